/** qkc list: number formats and schemes, built-in or declared in a .qs file. */
import { codec, formatBits } from "../../ir/formats/index.js";
import { bitsPerElement } from "../../ir/scheme.js";
import { BUILTIN_FORMATS, BUILTIN_SCHEMES } from "../../stdlib/index.js";
import { loadForCommand } from "../../dsl/resolve.js";
import type { Format } from "../../ir/formats/index.js";
import type { Scheme } from "../../ir/scheme.js";
import type { Io } from "../io.js";
import { describeBlock, describeScale } from "../schemes.js";
import { fmtFixed, fmtNumber, renderTable, toJson } from "../table.js";

export function runList(file: string | undefined, opts: { json?: boolean }, io: Io): void {
  let formats: readonly Format[] = BUILTIN_FORMATS;
  let schemes: readonly Scheme[] = BUILTIN_SCHEMES;
  if (file) {
    const { program } = loadForCommand([file]);
    formats = [...program.formats.values()];
    schemes = [...program.schemes.values()];
  }
  listTables(formats, schemes, opts, io);
}

function listTables(
  formats: readonly Format[],
  schemes: readonly Scheme[],
  opts: { json?: boolean },
  io: Io,
): void {
  if (opts.json) {
    io.stdout(
      toJson({
        formats: formats.map((f) => ({
          ...f,
          max: codec(f).maxFinite,
          minPositive: codec(f).minPositive,
        })),
        schemes: schemes.map((s) => ({ ...s, bitsPerElement: bitsPerElement(s) })),
      }),
    );
    return;
  }
  const formatRows = formats.map((f) => {
    const c = codec(f);
    return [
      f.name,
      f.kind,
      String(formatBits(f)),
      fmtNumber(c.maxFinite),
      fmtNumber(c.minPositive),
    ];
  });
  const schemeRows = schemes.map((s) => [
    s.name,
    s.element.name,
    describeBlock(s.block),
    describeScale(s),
    fmtFixed(bitsPerElement(s), 4),
    s.doc ?? "",
  ]);
  const right = "right" as const;
  io.stdout("Formats\n");
  io.stdout(
    renderTable(
      [
        { header: "name" },
        { header: "kind" },
        { header: "bits", align: right },
        { header: "max", align: right },
        { header: "min positive", align: right },
      ],
      formatRows,
    ),
  );
  io.stdout("\nSchemes\n");
  io.stdout(
    renderTable(
      [
        { header: "name" },
        { header: "element" },
        { header: "block" },
        { header: "scale" },
        { header: "bits/elem", align: right },
        { header: "doc" },
      ],
      schemeRows,
    ),
  );
  io.stdout(
    '\nbits/elem counts block scales and zero points; whole-axis blocks ("all") assume an axis of 4096.\n',
  );
}
