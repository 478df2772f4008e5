/** Tokens of the .qs language. */
import { createToken, Lexer, type TokenType } from "chevrotain";

export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/ });
const keyword = (word: string) =>
  createToken({ name: word[0].toUpperCase() + word.slice(1), pattern: new RegExp(word), longer_alt: Identifier });

export const Format = keyword("format");
export const Scheme = keyword("scheme");
export const Kernel = keyword("kernel");
export const Import = keyword("import");
export const Extends = keyword("extends");
/** the tile operator of `block: 16 x 16` */
export const Times = createToken({ name: "Times", pattern: /x/, longer_alt: Identifier });

/** `16x16` written without spaces: a tile like `16 x 16` (a leading 0 would be hex) */
export const TileLiteral = createToken({ name: "TileLiteral", pattern: /[1-9]\d*x\d+/ });
export const NumberLiteral = createToken({
  name: "NumberLiteral",
  pattern: /0[xX][0-9a-fA-F]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/,
});
export const StringLiteral = createToken({ name: "StringLiteral", pattern: /"(?:[^"\\\n]|\\.)*"/ });

export const LineComment = createToken({ name: "LineComment", pattern: /\/\/[^\n\r]*/, group: "comments" });
export const BlockComment = createToken({
  name: "BlockComment",
  pattern: /\/\*[\s\S]*?\*\//,
  group: "comments",
  line_breaks: true,
});
export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /\s+/, group: Lexer.SKIPPED });

const punct = (name: string, pattern: string) => createToken({ name, pattern });
export const LBrace = punct("LBrace", "{");
export const RBrace = punct("RBrace", "}");
export const LParen = punct("LParen", "(");
export const RParen = punct("RParen", ")");
export const LBracket = punct("LBracket", "[");
export const RBracket = punct("RBracket", "]");
export const Comma = punct("Comma", ",");
export const Colon = punct("Colon", ":");
export const Equals = punct("Equals", "=");
export const Plus = punct("Plus", "+");
export const Minus = punct("Minus", "-");
export const Star = punct("Star", "*");
export const Slash = punct("Slash", "/");
export const Caret = punct("Caret", "^");

export const allTokens: TokenType[] = [
  WhiteSpace,
  BlockComment,
  LineComment,
  Format,
  Scheme,
  Kernel,
  Import,
  Extends,
  Times,
  Identifier,
  TileLiteral,
  NumberLiteral,
  StringLiteral,
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Equals,
  Plus,
  Minus,
  Star,
  Slash,
  Caret,
];

export const qsLexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: false });
