/** Formatting .qs text with prettier and the qkc plugin (`qkc fmt`). */
import * as prettier from "prettier";
import plugin from "./prettier-plugin.js";

export async function formatQs(
  text: string,
  fileName = "<input>",
  options: { printWidth?: number } = {},
): Promise<string> {
  return prettier.format(text, {
    parser: "qs",
    plugins: [plugin],
    filepath: fileName,
    printWidth: options.printWidth ?? 100,
  });
}
