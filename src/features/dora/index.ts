/** The dora feature's front door: the only file other features import. */
export { DORA_FOOTNOTE, doraFields } from "./blocks.js";
