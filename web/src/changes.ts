import { ChangeKind, type Change } from "../../gen/releases/v1/releases_pb.js";

/** Breaking changes first; otherwise the server's order (tools by URN, prompts, metadata). */
export function breakingFirst(changes: readonly Change[]): Change[] {
  return changes
    .map((c, i) => ({ c, i }))
    .sort((a, b) => Number(b.c.breaking) - Number(a.c.breaking) || a.i - b.i)
    .map(({ c }) => c);
}

/** The tool name part of `tools:http:<source>:<name>`; the URN itself when it has another shape. */
export function toolNameOf(urn: string): string {
  const parts = urn.split(":");
  return parts.length === 4 ? parts[3]! : urn;
}

/** A field path as words: `mcp_is_public` → "MCP is public", `annotations.read_only_hint` → "annotations read only hint". */
export function fieldWords(field: string): string {
  return field.replaceAll(/[._]/g, " ").replace(/^mcp /, "MCP ").replace(/ mcp /, " MCP ");
}

/** One change as a sentence, e.g. "Tool removed: list_pets". */
export function describeChange(c: Change): string {
  const tool = c.toolUrn ? toolNameOf(c.toolUrn) : "";
  switch (c.kind) {
    case ChangeKind.TOOL_ADDED:
      return `Tool added: ${c.after || tool}`;
    case ChangeKind.TOOL_REMOVED:
      return `Tool removed: ${c.before || tool}`;
    case ChangeKind.TOOL_RENAMED:
      return `Tool renamed: ${c.before} → ${c.after}`;
    case ChangeKind.TOOL_CHANGED:
      return `Tool ${tool}: ${fieldWords(c.field)} changed`;
    case ChangeKind.PROMPT_ADDED:
      return `Prompt added: ${c.promptName}`;
    case ChangeKind.PROMPT_REMOVED:
      return `Prompt removed: ${c.promptName}`;
    case ChangeKind.PROMPT_CHANGED:
      return `Prompt ${c.promptName}: ${fieldWords(c.field)} changed`;
    case ChangeKind.METADATA_CHANGED:
      return `Toolset ${fieldWords(c.field)} changed`;
    case ChangeKind.UNSPECIFIED:
      return "Unknown change";
  }
}

/** Whether the change has a before/after pair worth showing. */
export function hasValues(c: Change): boolean {
  return c.kind === ChangeKind.TOOL_CHANGED || c.kind === ChangeKind.PROMPT_CHANGED || c.kind === ChangeKind.METADATA_CHANGED;
}
