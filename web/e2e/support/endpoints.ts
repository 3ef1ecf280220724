import { fromBinary, fromJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Page, Request } from "playwright-core";
import { expect } from "vitest";
import { GATEWAY_PUBLIC_URL } from "./harness.js";

/**
 * Checks one row of the "MCP endpoints" section: the nearest element around the
 * button "Copy <label> URL" that holds the URL shows the label and the whole URL
 * (GATEWAY_PUBLIC_URL + `path`), and the button puts exactly that URL on the clipboard.
 */
export async function expectEndpoint(page: Page, label: string, path: string): Promise<void> {
  const url = `${GATEWAY_PUBLIC_URL}${path}`;
  const button = page.getByRole("button", { name: `Copy ${label} URL`, exact: true });
  await button.waitFor();
  const row = button.locator(`xpath=ancestor::*[contains(., '${path}')][1]`);
  const text = (await row.textContent()) ?? "";
  expect(text, `the row of "Copy ${label} URL"`).toContain(label);
  expect(text, `the row of "Copy ${label} URL"`).toContain(url);
  await button.click();
  expect(await page.evaluate(() => navigator.clipboard.readText()), `what "Copy ${label} URL" copied`).toBe(url);
}

/** The request messages of the calls `page` makes to `/<service>/<method>`, decoded (Connect JSON or binary), in order. */
export function recordCalls<Desc extends DescMessage>(page: Page, method: string, schema: Desc): MessageShape<Desc>[] {
  const calls: MessageShape<Desc>[] = [];
  page.on("request", (request: Request) => {
    if (new URL(request.url()).pathname.endsWith(`/${method}`)) calls.push(decode(schema, request));
  });
  return calls;
}

function decode<Desc extends DescMessage>(schema: Desc, request: Request): MessageShape<Desc> {
  const type = request.headers()["content-type"] ?? "";
  if (type.startsWith("application/json")) return fromJsonString(schema, request.postData() ?? "{}", { ignoreUnknownFields: true });
  if (type.startsWith("application/proto")) return fromBinary(schema, request.postDataBuffer() ?? new Uint8Array());
  throw new Error(`${request.url()}: a request body of type "${type}", neither Connect JSON nor Connect binary`);
}
