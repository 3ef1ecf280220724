import type { UpsertPromptTemplateRequest } from "../../gen/sources/v1/sources_pb.js";
import type { PromptTemplateContent } from "../model/prompt-templates.js";
import { invalidArgument } from "../platform/errors.js";
import { LIMITS, promptName, text } from "../platform/validate.js";
import { jsonSchemaObject } from "./json-schema.js";

/** Checks an UpsertPromptTemplate request; INVALID_ARGUMENT names the first bad field. */
export function validateUpsertPromptTemplate(req: UpsertPromptTemplateRequest): PromptTemplateContent {
  const name = promptName("name", req.name);
  const description = text("description", req.description, { max: LIMITS.description });
  const prompt = text("prompt", req.prompt, { max: LIMITS.prompt });
  // "64 KiB" is a size: multi-byte characters can pass the character count and still be larger.
  if (Buffer.byteLength(prompt, "utf8") > LIMITS.prompt) throw invalidArgument("prompt", `must be at most ${LIMITS.prompt} bytes as UTF-8`);
  // Unset = no arguments: stored as the empty object, the column's default.
  const args = req.arguments === undefined ? "{}" : jsonSchemaObject("arguments", req.arguments);
  return { name, description, prompt, arguments: args };
}
