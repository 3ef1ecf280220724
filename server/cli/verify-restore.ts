import { verifyRestore } from "./restore-verification.js";

/**
 * Checks a restored database through a service running on it (see
 * restore-verification.ts; docs/operations.md, "Verify it"):
 *
 *   node --import tsx server/cli/verify-restore.ts <database-url> <service-url>
 *
 * Exit 0 when every live toolset resolves and each one in staging mode serves
 * its current release at its recorded etag; 1 listing what does not; 2 on a
 * usage error.
 */
const [databaseUrl, serviceUrl, ...rest] = process.argv.slice(2);
if (databaseUrl === undefined || serviceUrl === undefined || rest.length > 0) {
  process.stderr.write("usage: node --import tsx server/cli/verify-restore.ts <database-url> <service-url>\n");
  process.exit(2);
}
verifyRestore(databaseUrl, serviceUrl, (line) => console.log(line)).then(
  (failures) => process.exit(failures === 0 ? 0 : 1),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
