import { fileURLToPath } from "node:url";

/** Debian's Chromium: the only browser the suite uses (none is downloaded). */
export const CHROMIUM = "/usr/bin/chromium";
/** The console's production build, which the release service serves at /console/. */
export const CONSOLE_DIST = fileURLToPath(new URL("../../dist", import.meta.url));
/** Where the screenshots go (gitignored; CI prints the path). */
export const ARTIFACTS_DIR = fileURLToPath(new URL("../../../artifacts/console", import.meta.url));
