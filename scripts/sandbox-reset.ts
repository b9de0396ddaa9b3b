// `npm run sandbox:reset`: see src/sandbox/reset.ts.
import { resetSandbox } from "../src/sandbox/reset.js";

const result = resetSandbox(process.env.DATA_DIR?.trim() || "./data", Boolean(process.env.DATABASE_URL?.trim()));
(result.ok ? process.stdout : process.stderr).write(`${result.message}\n`);
process.exit(result.ok ? 0 : 1);
