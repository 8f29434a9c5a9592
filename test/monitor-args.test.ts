import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  HMP_INFO_COMMANDS,
  HmpParser,
  checkPortAddress,
  formatPortRead,
  portAccess,
  portRangeError,
  type HmpParseResult,
  type HmpParsedCommand,
} from "../src/monitor/hmp-args.js";

// Every expected text below was printed by the real qemu-system-x86_64 7.2 (Debian
// 1:7.2+dfsg-7+deb12u18+b3, `-M pc -nodefaults -S -display none -qmp stdio`, through
// `human-monitor-command`, \r\n turned into \n), each sequence on a freshly started QEMU.

interface Step {
  command: string;
  output: string;
}

function parsed(r: HmpParseResult): HmpParsedCommand {
  if (!r.ok) throw new Error(`expected a parsed command, got ${JSON.stringify(r)}`);
  return r;
}

const READ_LINE = /^port([bwl])\[0x([0-9a-f]{4})\] = 0x([0-9a-f]+) ?\n$/;
const SUFFIX_SIZE: Record<string, number> = { b: 1, w: 2, l: 4 };

/**
 * Runs QEMU's steps through one parser: an error text must come back exactly; a successful `i`
 * must read the port and size QEMU read, and print QEMU's line when given QEMU's value; a
 * successful `o` must parse.
 */
function replay(steps: readonly Step[], parser = new HmpParser()): void {
  for (const { command, output } of steps) {
    const r = parser.parse(command);
    const read = READ_LINE.exec(output);
    if (read && r.ok && r.command === "i") {
      const access = portAccess(r)!;
      expect(access.kind, command).toBe("read");
      expect(access.port, command).toBe(parseInt(read[2]!, 16));
      expect(access.size, command).toBe(SUFFIX_SIZE[read[1]!]);
      expect(formatPortRead(access.port, r.fmt!.size, BigInt(`0x${read[3]}`)), command).toBe(output);
    } else if (r.ok && r.command === "help") {
      expect(parser.help(r.args[0] as string | undefined), command).toBe(output);
    } else if (r.ok) {
      expect(output, `${command} parsed, but QEMU printed`).toBe("");
    } else {
      expect(r.output, command).toBe(output);
    }
  }
}

describe("the QEMU 7.2 transcript fixture (chipset-ports.json)", () => {
  const fixture = JSON.parse(
    readFileSync(fileURLToPath(new URL("./fixtures/qemu/monitor/chipset-ports.json", import.meta.url)), "utf8"),
  ) as { transcript: Step[] };

  it("replays every command: error texts exactly, reads and writes with QEMU's port, size and value", () => {
    const parser = new HmpParser();
    // An independent, deliberately naive model of the sticky size: the last size letter typed.
    let lastSize = 4;
    const sizeOf = (letters: string | undefined): number => {
      const m = /[bhwg]/.exec([...(letters ?? "")].reverse().join(""));
      if (m) lastSize = { b: 1, h: 2, w: 4, g: 8 }[m[0] as "b" | "h" | "w" | "g"];
      return lastSize;
    };
    let errors = 0;
    let reads = 0;
    let writes = 0;
    let others = 0;

    for (const { command, output } of fixture.transcript) {
      const r = parser.parse(command);
      const ioRead = /^i(?: \/(\w+))? (0x[0-9a-f]+)$/.exec(command);
      const ioWrite = /^o(?: \/(\w+))? (0x[0-9a-f]+) (0x[0-9a-f]+)$/.exec(command);
      const qemuRead = READ_LINE.exec(output);

      if (ioRead && qemuRead) {
        reads++;
        const cmd = parsed(r);
        const size = sizeOf(ioRead[1]);
        const access = portAccess(cmd)!;
        expect(access, command).toMatchObject({
          kind: "read",
          port: Number(BigInt(ioRead[2]!) & 0xffffn),
          size: size === 8 ? 1 : size,
        });
        expect(cmd.fmt!.size, command).toBe(size);
        expect(access.port, command).toBe(parseInt(qemuRead[2]!, 16));
        expect(access.size, command).toBe(SUFFIX_SIZE[qemuRead[1]!]);
        expect(formatPortRead(access.port, cmd.fmt!.size, BigInt(`0x${qemuRead[3]}`)), command).toBe(output);
        if (BigInt(ioRead[2]!) > 0xffffn) {
          expect(portRangeError(cmd), command).toBe(`port ${ioRead[2]} is out of range (0x0000-0xffff)\n`);
        } else {
          expect(portRangeError(cmd), command).toBeUndefined();
        }
      } else if (ioWrite && output === "") {
        writes++;
        const cmd = parsed(r);
        const size = sizeOf(ioWrite[1]);
        const bytes = size === 8 ? 1 : size;
        expect(portAccess(cmd), command).toEqual({
          kind: "write",
          port: Number(BigInt(ioWrite[2]!)),
          size: bytes,
          value: Number(BigInt(ioWrite[3]!) & ((1n << BigInt(bytes * 8)) - 1n)),
        });
        expect(portRangeError(cmd), command).toBeUndefined();
      } else if (!r.ok) {
        errors++;
        expect(r.output, command).toBe(output);
        // QEMU has already taken in the /fmt size when the rest of the line fails
        sizeOf(/^[io] \/(\w+)/.exec(command)?.[1]);
      } else {
        others++;
        if (r.command === "help") expect(parser.help(r.args[0] as string), command).toBe(output);
        else expect(r, command).toMatchObject({ command: "info", subcommand: "pci", args: [] });
      }
    }

    expect(fixture.transcript).toHaveLength(493);
    expect({ errors, reads, writes, others }).toEqual({
      errors: 10,
      reads: 363,
      writes: 117,
      others: 3,
    });
  });
});

describe("/fmt: count, format and size letters", () => {
  it("a command without /fmt reuses the last size", () => {
    replay([
      { command: "o /w 0xcf8 0x80000000", output: "" },
      { command: "i /b 0xcfc", output: "portb[0x0cfc] = 0x86\n" },
      { command: "i 0xcfc", output: "portb[0x0cfc] = 0x86\n" },
      { command: "i /h 0xcfc", output: "portw[0x0cfc] = 0x8086\n" },
      { command: "i 0xcfc", output: "portw[0x0cfc] = 0x8086\n" },
    ]);
  });

  it("the size starts as w (4 bytes) and the format as x", () => {
    const parser = new HmpParser();
    expect(parser.defaults).toEqual({ format: "x", size: 4 });
    expect(parsed(parser.parse("i 0xcfc")).fmt).toEqual({ count: 1, format: "x", size: 4 });
  });

  it("a /fmt with only a format letter keeps the last size", () => {
    replay([
      { command: "o /w 0xcf8 0x80000000", output: "" },
      { command: "i /b 0xcfc", output: "portb[0x0cfc] = 0x86\n" },
      { command: "i /x 0xcfc", output: "portb[0x0cfc] = 0x86\n" },
      { command: "i /c 0xcfc", output: "portb[0x0cfc] = 0x86\n" },
      { command: "i /2w 0xcfc", output: "portl[0x0cfc] = 0x12378086\n" },
      { command: "i /3 0xcfc", output: "portl[0x0cfc] = 0x12378086\n" },
    ]);
  });

  it("letters come in any order and the last of each kind wins", () => {
    const parser = new HmpParser();
    expect(parsed(parser.parse("i /bw 0xcfc")).fmt).toEqual({ count: 1, format: "x", size: 4 });
    expect(parsed(parser.parse("i /ixw 0xcfc")).fmt).toEqual({ count: 1, format: "x", size: 4 });
    expect(parsed(parser.parse("i /12hd 0xcfc")).fmt).toEqual({ count: 12, format: "d", size: 2 });
    expect(parsed(parser.parse("i /L 0xcfc")).fmt).toEqual({ count: 1, format: "d", size: 8 });
  });

  it("/g and /L read one byte but print it padded to 16 digits", () => {
    replay([
      { command: "o /w 0xcf8 0x80000000", output: "" },
      { command: "i /g 0xcfc", output: "portb[0x0cfc] = 0x0000000000000086\n" },
      { command: "i 0xcfc", output: "portb[0x0cfc] = 0x0000000000000086\n" },
      { command: "i /L 0xcfc", output: "portb[0x0cfc] = 0x0000000000000086\n" },
    ]);
    expect(formatPortRead(0xcfc, 8, 0x86)).toBe("portb[0x0cfc] = 0x0000000000000086\n");
  });

  it("an o with /g writes a single byte", () => {
    const access = portAccess(parsed(new HmpParser().parse("o /g 0xcf8 0x12345678")));
    expect(access).toEqual({ kind: "write", port: 0xcf8, size: 1, value: 0x78 });
  });

  it("the /i format remembers no size: a bare command then reads a byte, printed left-justified", () => {
    replay([
      { command: "o /w 0xcf8 0x80000000", output: "" },
      { command: "i /i 0xcf9", output: "portb[0x0cf9] = 0x0 \n" },
      { command: "i /b 0xcf9", output: "portb[0x0cf9] = 0x00\n" },
      { command: "i 0xcf9", output: "portb[0x0cf9] = 0x0 \n" },
      { command: "i /wi 0xcfc", output: "portl[0x0cfc] = 0x12378086\n" },
      { command: "i 0xcfc", output: "portb[0x0cfc] = 0x86\n" },
      { command: "i /h 0xcfc", output: "portw[0x0cfc] = 0x8086\n" },
      // leaving format i, the size is the one remembered before it
      { command: "i /x 0xcfc", output: "portl[0x0cfc] = 0x12378086\n" },
      { command: "i 0xcfc", output: "portl[0x0cfc] = 0x12378086\n" },
    ]);
    expect(formatPortRead(0xcf9, -1, 0)).toBe("portb[0x0cf9] = 0x0 \n");
  });

  it("a /fmt is remembered even when the rest of the line fails", () => {
    replay([
      { command: "o /b 0xcf8 zz", output: "invalid char 'z' in expression\nTry \"help o\" for more information\n" },
      { command: "i 0xcfc", output: "portb[0x0cfc] = 0xff\n" },
      {
        command: "o /h 0xcf8 0x180000000",
        output: "'o' has failed: integer is for 32-bit values\nTry \"help o\" for more information\n",
      },
      { command: "i 0xcfc", output: "portw[0x0cfc] = 0xffff\n" },
    ]);
  });

  it("an unknown letter is an invalid char in format, and so is anything glued to the format", () => {
    replay([
      { command: "i /l 0xcfc", output: "invalid char in format: 'l'\nTry \"help i\" for more information\n" },
      { command: "i /s 0xcfc", output: "invalid char in format: 's'\nTry \"help i\" for more information\n" },
      { command: "i /b0xcfc", output: "invalid char in format: '0'\nTry \"help i\" for more information\n" },
      { command: "i //w", output: "invalid char in format: '/'\nTry \"help i\" for more information\n" },
      { command: "i/w/b 0xcfc", output: "invalid char in format: '/'\nTry \"help i\" for more information\n" },
      { command: "i /é 0", output: "invalid char in format: '\uFFFD'\nTry \"help i\" for more information\n" },
    ]);
  });

  it("a lone slash is an empty /fmt, and a slash later on is an expression error", () => {
    replay([
      { command: "i /", output: 'unexpected end of expression\nTry "help i" for more information\n' },
      { command: "i  /  w 0xcfc", output: "invalid char 'w' in expression\nTry \"help i\" for more information\n" },
      { command: "i /w 0xcf8 /b", output: "invalid char 'b' in expression\nTry \"help i\" for more information\n" },
    ]);
  });

  it("the command name ends at a slash", () => {
    replay([
      { command: "o/w 0xcf8 0x80000000", output: "" },
      { command: "i/w 0xcfc", output: "portl[0x0cfc] = 0x12378086\n" },
    ]);
  });

  it("initial defaults can be given to the parser", () => {
    const parser = new HmpParser({ defaults: { format: "x", size: 1 } });
    expect(portAccess(parsed(parser.parse("i 0x61")))).toMatchObject({ size: 1 });
  });
});

describe("expressions", () => {
  it("an expression runs across spaces", () => {
    replay([
      { command: "o /w 0xcf8 -1", output: 'unexpected end of expression\nTry "help o" for more information\n' },
      { command: "i 1 + 2", output: "portl[0x0003] = 0x00000000\n" },
    ]);
    // ... so `0xcf8 -1` above was one address: 0xcf7
    const parser = new HmpParser();
    expect(parsed(parser.parse("o /w 0xcf8 -1 5")).named).toEqual({ addr: 0xcf7n, val: 5n });
  });

  it("+ and - bind loosest, then & | ^, then * / %, all left to right", () => {
    const addr = (e: string) => parsed(new HmpParser().parse(`i ${e}`)).named["addr"];
    replay(
      [
        { command: "i 3-1-1", output: "portw[0x0001] = 0x0000\n" },
        { command: "i 2*3+4", output: "portw[0x000a] = 0x0000\n" },
        { command: "i 2+3*4", output: "portw[0x000e] = 0x0000\n" },
        { command: "i 1|2&3", output: "portw[0x0003] = 0x0000\n" },
        { command: "i 6-2|1", output: "portw[0x0003] = 0x0000\n" },
        { command: "i 0xcfc-0xcfc%0x10+0xc", output: "portw[0x0cfc] = 0xffff\n" },
      ],
      new HmpParser({ defaults: { format: "x", size: 2 } }),
    );
    expect(addr("1+2&3")).toBe(3n); // 1 + (2 & 3)
    expect(addr("6^3*2")).toBe(0n); // 6 ^ (3 * 2)
    expect(addr("7/2")).toBe(3n);
    expect(addr("7%-2")).toBe(1n);
    expect(addr("(0-7)%2+2")).toBe(1n); // C remainder takes the dividend's sign
    expect(addr("10*10-99")).toBe(1n);
    expect(addr("~~5")).toBe(5n);
    expect(addr("-0x1+1")).toBe(0n);
    expect(addr("~0 & 0xcfc")).toBe(0xcfcn);
  });

  it("numbers are read like strtoull base 0: hex, leading-zero octal, decimal, no binary", () => {
    const addr = (e: string) => parsed(new HmpParser().parse(`i ${e}`)).named["addr"];
    expect(addr("0xcfc")).toBe(0xcfcn);
    expect(addr("0XCFC")).toBe(0xcfcn);
    expect(addr("0777777")).toBe(0o777777n);
    expect(addr("3324")).toBe(3324n);
    expect(addr("0x00000000ffffffff")).toBe(0xffffffffn);
    replay([
      // the number stops early and the rest is left over
      { command: "i 08", output: 'i: extraneous characters at the end of line\nTry "help i" for more information\n' },
      { command: "i 0cfc", output: 'i: extraneous characters at the end of line\nTry "help i" for more information\n' },
      { command: "i 0x", output: 'i: extraneous characters at the end of line\nTry "help i" for more information\n' },
      { command: "i 0b1", output: 'i: extraneous characters at the end of line\nTry "help i" for more information\n' },
      { command: "i 0x1g", output: 'i: extraneous characters at the end of line\nTry "help i" for more information\n' },
    ]);
  });

  it("values above 32 bits or below zero fail the 'i' check, with the command's own name", () => {
    const tooBig = (c: string) => `'${c}' has failed: integer is for 32-bit values\nTry "help ${c}" for more information\n`;
    replay([
      { command: "i 0x100000000", output: tooBig("i") },
      { command: "i -1", output: tooBig("i") },
      { command: "i ~0", output: tooBig("i") },
      { command: "i -7/2", output: tooBig("i") },
      { command: "i 0xffffffffffffffff", output: tooBig("i") },
      { command: "i 18446744073709551615", output: tooBig("i") },
      { command: "i 0x8000000000000000", output: tooBig("i") },
      { command: "i 0x7fffffffffffffff/-1", output: tooBig("i") },
      { command: "o /w 0xcf8 (0-1)", output: tooBig("o") },
      { command: "o /w 0xcf8 0x180000000", output: tooBig("o") },
    ]);
    expect(parsed(new HmpParser().parse("i 0xffffffff")).named["addr"]).toBe(0xffffffffn);
    expect(parsed(new HmpParser().parse("i -0")).named["addr"]).toBe(0n);
  });

  it("a number beyond 64 bits is too large", () => {
    replay([{ command: "i 18446744073709551616", output: 'number too large\nTry "help i" for more information\n' }]);
  });

  it("parentheses, character constants, division by zero and stray characters have their own messages", () => {
    const hint = 'Try "help i" for more information\n';
    replay([
      { command: "i (0xcfc", output: `')' expected\n${hint}` },
      { command: "i ()", output: `invalid char ')' in expression\n${hint}` },
      { command: "i 1+", output: `unexpected end of expression\n${hint}` },
      { command: "i 1 +", output: `unexpected end of expression\n${hint}` },
      { command: "i 1/0", output: `division by zero\n${hint}` },
      { command: "i 1%0", output: `division by zero\n${hint}` },
      { command: "i 'ab'", output: `missing terminating ' character\n${hint}` },
      { command: "i 'a", output: `missing terminating ' character\n${hint}` },
      { command: "i ''", output: `missing terminating ' character\n${hint}` },
      { command: "i '", output: `character constant expected\n${hint}` },
      { command: "i 'é'", output: `missing terminating ' character\n${hint}` },
      { command: "i é", output: `invalid char '\uFFFD' in expression\n${hint}` },
      { command: "o /w 0xcf8 zz", output: "invalid char 'z' in expression\nTry \"help o\" for more information\n" },
    ]);
    const addr = (e: string) => parsed(new HmpParser().parse(`i ${e}`)).named["addr"];
    expect(addr("'a'")).toBe(0x61n);
    expect(addr("'a'+1")).toBe(0x62n);
    expect(addr("'''")).toBe(0x27n);
  });

  it("$name is an unknown register unless a resolver is given", () => {
    replay([
      { command: "i $foo", output: 'unknown register\nTry "help i" for more information\n' },
      { command: "i $", output: 'unknown register\nTry "help i" for more information\n' },
    ]);
    const parser = new HmpParser({ register: (n) => (n === "eax" ? 0x70n : undefined) });
    expect(parsed(parser.parse("i $eax + 1")).named["addr"]).toBe(0x71n);
    expect(parser.parse("i $ebx")).toEqual({
      ok: false,
      kind: "syntax",
      output: 'unknown register\nTry "help i" for more information\n',
    });
  });

  it("a missing or surplus argument is reported", () => {
    replay([
      { command: "i", output: 'unexpected end of expression\nTry "help i" for more information\n' },
      { command: "o 1", output: 'unexpected end of expression\nTry "help o" for more information\n' },
      { command: "i 0xcfc 1", output: 'i: extraneous characters at the end of line\nTry "help i" for more information\n' },
      { command: "i 0 10", output: 'i: extraneous characters at the end of line\nTry "help i" for more information\n' },
      {
        command: "o /w 0xcf8 0x80000000 junk",
        output: 'o: extraneous characters at the end of line\nTry "help o" for more information\n',
      },
    ]);
  });
});

describe("i and o port accesses", () => {
  it("i addr.index writes the index byte to addr, then reads addr + 1", () => {
    replay([
      { command: "i /b 0x70.0x0f", output: "portb[0x0071] = 0x00\n" },
      { command: "i /h 0x70 . 0x0f", output: "portw[0x0071] = 0xff00\n" },
    ]);
    const cmd = parsed(new HmpParser().parse("i /b 0x70.0x10f"));
    expect(cmd.args).toEqual([0x70n, 0x10fn]);
    expect(portAccess(cmd)).toEqual({
      kind: "read",
      port: 0x71,
      size: 1,
      fmtSize: 1,
      select: { port: 0x70, value: 0x0f },
    });
    replay([
      { command: "i 0xcfc.", output: 'unexpected end of expression\nTry "help i" for more information\n' },
      { command: "i 0xcfc .", output: 'unexpected end of expression\nTry "help i" for more information\n' },
      { command: "i 0xcfc.1.2", output: 'i: extraneous characters at the end of line\nTry "help i" for more information\n' },
    ]);
  });

  it("o truncates the value to the access size, as the port access does", () => {
    const parser = new HmpParser();
    expect(portAccess(parsed(parser.parse("o /b 0xcf9 0x1ff")))).toEqual({ kind: "write", port: 0xcf9, size: 1, value: 0xff });
    expect(portAccess(parsed(parser.parse("o /h 0xcf8 0x12345678")))).toEqual({ kind: "write", port: 0xcf8, size: 2, value: 0x5678 });
    expect(portAccess(parsed(parser.parse("o /w 0xcf8 0xffffffff")))).toEqual({ kind: "write", port: 0xcf8, size: 4, value: 0xffffffff });
  });

  it("QEMU masks ports to 16 bits; the separate range check reports them instead", () => {
    replay([
      { command: "i /w 0x10000", output: "portl[0x0000] = 0x00000000\n" },
      { command: "i 0xffffffff", output: "portl[0xffff] = 0x000000ff\n" },
    ]);
    const parser = new HmpParser();
    const wrapped = parsed(parser.parse("i /w 0x10000"));
    expect(portAccess(wrapped)).toMatchObject({ port: 0 });
    expect(portRangeError(wrapped)).toBe("port 0x10000 is out of range (0x0000-0xffff)\n");
    expect(portRangeError(parsed(parser.parse("o /b 0x12345 0")))).toBe("port 0x12345 is out of range (0x0000-0xffff)\n");
    expect(portRangeError(parsed(parser.parse("i /b 0xffff.1")))).toBe("port 0x10000 is out of range (0x0000-0xffff)\n");
    expect(portRangeError(parsed(parser.parse("i 0xffff")))).toBeUndefined();
    expect(portRangeError(parsed(parser.parse("info pci")))).toBeUndefined();
    expect(checkPortAddress(0x61)).toBeUndefined();
    expect(checkPortAddress(0x1_0000_0000n)).toBe("port 0x100000000 is out of range (0x0000-0xffff)\n");
  });

  it("a read is printed as port%c[0x%04x] = 0x%0*x with b/w/l by access size", () => {
    expect(formatPortRead(0xcfc, 1, 0x86)).toBe("portb[0x0cfc] = 0x86\n");
    expect(formatPortRead(0xcfc, 2, 0x8086)).toBe("portw[0x0cfc] = 0x8086\n");
    expect(formatPortRead(0xcf8, 4, 0x80000000)).toBe("portl[0x0cf8] = 0x80000000\n");
    expect(formatPortRead(0x61, 4, 0)).toBe("portl[0x0061] = 0x00000000\n");
    expect(formatPortRead(0x61, -1, 0x30)).toBe("portb[0x0061] = 0x30\n");
  });

  it("only i and o are port accesses", () => {
    expect(portAccess(parsed(new HmpParser().parse("info pci")))).toBeUndefined();
  });
});

describe("command names and blanks", () => {
  it("an unknown command is echoed from the start of the line to the end of its name", () => {
    replay([
      { command: "foo", output: "unknown command: 'foo'\n" },
      { command: "INFO pci", output: "unknown command: 'INFO'\n" },
      { command: "I 0xcfc", output: "unknown command: 'I'\n" },
      { command: "é", output: "unknown command: 'é'\n" },
      { command: "info foo", output: "unknown command: 'info foo'\n" },
      { command: " info foo", output: "unknown command: ' info foo'\n" },
      { command: "info /x", output: "unknown command: 'info '\n" },
      { command: "info/x", output: "unknown command: 'info'\n" },
    ]);
    expect(new HmpParser().parse("foo")).toMatchObject({ ok: false, kind: "unknown-command" });
  });

  it("the help hint quotes the command as typed, leading blanks included", () => {
    replay([
      {
        command: "  i /w 0xcf8 zz",
        output: 'i: extraneous characters at the end of line\nTry "help   i" for more information\n',
      },
      { command: "   o /w 0xcf8", output: 'unexpected end of expression\nTry "help    o" for more information\n' },
      {
        command: "info  mtree  -x",
        output: 'mtree: unsupported option -x\nTry "help info  mtree" for more information\n',
      },
    ]);
  });

  it("tabs, vertical tabs and newlines are blanks", () => {
    const parser = new HmpParser();
    for (const line of ["\ti\t0xcfc\t", "i\v0xcfc", "i 0xcfc\n", "i\n0xcfc"]) {
      expect(parsed(parser.parse(line)).named["addr"], JSON.stringify(line)).toBe(0xcfcn);
    }
  });

  it("a blank line prints nothing", () => {
    const parser = new HmpParser();
    expect(parser.parse("")).toEqual({ ok: false, kind: "empty", output: "" });
    expect(parser.parse(" \t ")).toEqual({ ok: false, kind: "empty", output: "" });
  });

  it("q is quit and ? is help; their messages use QEMU's full name", () => {
    const parser = new HmpParser();
    expect(parsed(parser.parse("q"))).toMatchObject({ command: "quit", args: [] });
    expect(parsed(parser.parse("quit"))).toMatchObject({ command: "quit", args: [] });
    expect(parsed(parser.parse("system_reset"))).toMatchObject({ command: "system_reset", args: [] });
    replay([
      {
        command: "quit extra",
        output: 'quit|q: extraneous characters at the end of line\nTry "help quit" for more information\n',
      },
      { command: "q extra", output: 'quit|q: extraneous characters at the end of line\nTry "help q" for more information\n' },
      {
        command: "system_reset extra",
        output: 'system_reset: extraneous characters at the end of line\nTry "help system_reset" for more information\n',
      },
    ]);
  });
});

describe("info", () => {
  it("info returns the subcommand, whatever the blanks", () => {
    const parser = new HmpParser();
    expect(parsed(parser.parse("info pci"))).toEqual({ ok: true, command: "info", subcommand: "pci", args: [], named: {} });
    expect(parsed(parser.parse("info  qtree "))).toMatchObject({ command: "info", subcommand: "qtree" });
    expect(parsed(parser.parse("info"))).toEqual({ ok: true, command: "info", args: [], named: {} });
    expect(parsed(parser.parse("info   "))).not.toHaveProperty("subcommand");
  });

  it("a subcommand takes no stray words, and says so under its own name", () => {
    replay([
      { command: "info pci extra", output: 'pci: extraneous characters at the end of line\nTry "help info pci" for more information\n' },
      { command: "info pci/x", output: 'pci: extraneous characters at the end of line\nTry "help info pci" for more information\n' },
      { command: "info qtree -f", output: 'qtree: extraneous characters at the end of line\nTry "help info qtree" for more information\n' },
    ]);
  });

  it("mtree options are flags that must come in table order (-f -d -o -D)", () => {
    const parser = new HmpParser();
    expect(parsed(parser.parse("info mtree -f -d -o -D")).named).toEqual({
      flatview: true,
      dispatch_tree: true,
      owner: true,
      disabled: true,
    });
    expect(parsed(parser.parse("info mtree -D")).named).toEqual({ disabled: true });
    expect(parsed(parser.parse("info mtree -f-o")).named).toEqual({ flatview: true, owner: true });
    const hint = 'Try "help info mtree" for more information\n';
    replay([
      { command: "info mtree -d -f", output: `mtree: unsupported option -f\n${hint}` },
      { command: "info mtree -o -f", output: `mtree: unsupported option -f\n${hint}` },
      { command: "info mtree -f -f", output: `mtree: unsupported option -f\n${hint}` },
      { command: "info mtree -x", output: `mtree: unsupported option -x\n${hint}` },
      { command: "info mtree --f", output: `mtree: unsupported option --\n${hint}` },
      { command: "info mtree -fd", output: `mtree: extraneous characters at the end of line\n${hint}` },
      // QEMU prints the NUL after the dash, which ends its message early: no newline
      { command: "info mtree -", output: `mtree: unsupported option -${hint}` },
    ]);
  });

  it("the accepted info subcommands can be chosen", () => {
    const parser = new HmpParser({ info: ["pci", "qom-tree", { name: "chipset", argsType: "", params: "", help: "show the chipset" }] });
    expect(parsed(parser.parse("info qom-tree /machine"))).toMatchObject({
      subcommand: "qom-tree",
      args: ["/machine"],
      named: { path: "/machine" },
    });
    expect(parsed(parser.parse("info chipset"))).toMatchObject({ subcommand: "chipset" });
    expect(parser.parse("info mtree")).toMatchObject({ ok: false, output: "unknown command: 'info mtree'\n" });
    expect(parser.help("info")).toBe(
      "info chipset  -- show the chipset\ninfo pci  -- show PCI info\ninfo qom-tree [path] -- show QOM composition tree\n",
    );
    expect(() => new HmpParser({ info: ["nonsense"] })).toThrow();
    expect(HMP_INFO_COMMANDS.map((c) => c.name)).toContain("mtree");
  });
});

describe("word arguments", () => {
  it("device_del, savevm and loadvm take one word, quoted strings with \\ escapes allowed", () => {
    const parser = new HmpParser();
    expect(parsed(parser.parse("device_del nic0"))).toMatchObject({ command: "device_del", args: ["nic0"], named: { id: "nic0" } });
    expect(parsed(parser.parse('device_del "a b"')).args).toEqual(["a b"]);
    expect(parsed(parser.parse('device_del "a\\"b"')).args).toEqual(['a"b']);
    expect(parsed(parser.parse('device_del "a\\\\b"')).args).toEqual(["a\\b"]);
    expect(parsed(parser.parse('device_del "x\\ny"')).args).toEqual(["x\ny"]);
    expect(parsed(parser.parse('device_del a"b')).args).toEqual(['a"b']);
    expect(parsed(parser.parse("savevm"))).toMatchObject({ command: "savevm", args: [] });
    expect(parsed(parser.parse("savevm snap1"))).toMatchObject({ command: "savevm", args: ["snap1"], named: { name: "snap1" } });
    expect(parsed(parser.parse("loadvm snap1"))).toMatchObject({ command: "loadvm", args: ["snap1"] });
  });

  it("a missing, unterminated or badly escaped word is 'string expected'", () => {
    replay([
      { command: "device_del", output: 'device_del: string expected\nTry "help device_del" for more information\n' },
      { command: 'device_del "abc', output: 'device_del: string expected\nTry "help device_del" for more information\n' },
      { command: 'device_del "\\q"', output: 'device_del: string expected\nTry "help device_del" for more information\n' },
      { command: "loadvm", output: 'loadvm: string expected\nTry "help loadvm" for more information\n' },
      {
        command: "device_del a b",
        output: 'device_del: extraneous characters at the end of line\nTry "help device_del" for more information\n',
      },
      { command: "savevm a b", output: 'savevm: extraneous characters at the end of line\nTry "help savevm" for more information\n' },
      { command: 'savevm "a b" c', output: 'savevm: extraneous characters at the end of line\nTry "help savevm" for more information\n' },
      { command: 'loadvm "x y" z', output: 'loadvm: extraneous characters at the end of line\nTry "help loadvm" for more information\n' },
    ]);
  });

  it("device_add takes one word too, not the rest of the line", () => {
    const parser = new HmpParser();
    expect(parsed(parser.parse("device_add e1000,id=nic0,addr=5"))).toMatchObject({
      command: "device_add",
      args: ["e1000,id=nic0,addr=5"],
      named: { device: "e1000,id=nic0,addr=5" },
    });
    expect(parsed(parser.parse('device_add "foo bar"')).args).toEqual(["foo bar"]);
    expect(parsed(parser.parse("device_add"))).toMatchObject({ command: "device_add", args: [] });
    replay([
      {
        command: "device_add foo bar",
        output: 'device_add: extraneous characters at the end of line\nTry "help device_add" for more information\n',
      },
      {
        command: "device_add foo,bus=pci.0 extra",
        output: 'device_add: extraneous characters at the end of line\nTry "help device_add" for more information\n',
      },
    ]);
  });

  it("device_add with an ill-formed id prints only the help hint (QEMU's reason goes to stderr)", () => {
    const hintOnly = 'Try "help device_add" for more information\n';
    replay([
      { command: "device_add e1000,id=1a", output: hintOnly },
      { command: "device_add e1000,id=", output: hintOnly },
      { command: "device_add e1000,id=_a", output: hintOnly },
      { command: 'device_add "e1000,id=a b"', output: hintOnly },
      { command: 'device_add "e1000,id=x y"', output: hintOnly },
      { command: 'device_add "e1000,id=a\\nb"', output: hintOnly },
      // the id scan reads a bare word as a flag, so ",," does not protect a later id=
      { command: "device_add e1000,,id=1a", output: hintOnly },
      { command: 'device_add "abc', output: hintOnly },
    ]);
    const parser = new HmpParser();
    for (const ok of ["e1000,id=a.b-c_d,bogus", "e1000,id=a,id=1b", "e1000,noid", "e1000,,id=ab", "id=x", ",", "="]) {
      expect(parser.parse(`device_add ${ok}`).ok, ok).toBe(true);
    }
  });
});

describe("help", () => {
  it("help texts for the supported commands are QEMU 7.2's", () => {
    replay([
      { command: "help i", output: "i /fmt addr -- I/O port read\n" },
      { command: "help o", output: "o /fmt addr value -- I/O port write\n" },
      { command: "? o", output: "o /fmt addr value -- I/O port write\n" },
      { command: "help quit", output: "quit|q  -- quit the emulator\n" },
      { command: "help q", output: "quit|q  -- quit the emulator\n" },
      { command: "help system_reset", output: "system_reset  -- reset the system\n" },
      { command: "help device_add", output: "device_add driver[,prop=value][,...] -- add device, like -device on the command line\n" },
      { command: "help device_del", output: "device_del device -- remove device\n" },
      { command: "help savevm", output: "savevm tag -- save a VM snapshot. If no tag is provided, a new snapshot is created\n" },
      { command: "help loadvm", output: "loadvm tag -- restore a VM snapshot from its tag\n" },
      { command: "help help", output: "help|? [cmd] -- show the help\n" },
      { command: "help ?", output: "help|? [cmd] -- show the help\n" },
      { command: "? ?", output: "help|? [cmd] -- show the help\n" },
      { command: "help info pci", output: "info pci  -- show PCI info\n" },
      { command: "help info qtree", output: "info qtree  -- show device tree\n" },
      {
        command: "help info mtree",
        output:
          "info mtree [-f][-d][-o][-D] -- show memory tree (-f: dump flat view for address spaces;-d: dump dispatch tree, valid with -f only);-o: dump region owners/parents;-D: dump disabled regions\n",
      },
    ]);
  });

  it("help looks only at the words it needs and tokenizes like get_str", () => {
    replay([
      { command: "help i o", output: "i /fmt addr -- I/O port read\n" },
      { command: "help i extra stuff", output: "i /fmt addr -- I/O port read\n" },
      { command: "help help extra", output: "help|? [cmd] -- show the help\n" },
      { command: "help info pci extra", output: "info pci  -- show PCI info\n" },
      { command: 'help "i"', output: "i /fmt addr -- I/O port read\n" },
      { command: "help foo", output: "unknown command: 'foo'\n" },
      { command: "help  foo  bar", output: "unknown command: 'foo'\n" },
      { command: "help\tfoo", output: "unknown command: 'foo'\n" },
      { command: "help info foo", output: "unknown command: 'info foo'\n" },
      { command: 'help "info pci"', output: "unknown command: 'info pci'\n" },
      { command: "help /x", output: "unknown command: '/x'\n" },
      { command: "help i/x", output: "unknown command: 'i/x'\n" },
      { command: "? extra extra", output: "unknown command: 'extra'\n" },
      { command: 'help "foo', output: "" },
      { command: "help a b c d e f g h i j k l m n o p q", output: "" },
      { command: "help a b c d e f g h i j k l m n o p", output: "unknown command: 'a'\n" },
    ]);
  });

  it("help with no argument lists the supported commands in QEMU's sorted order", () => {
    const parser = new HmpParser();
    expect(parsed(parser.parse("help  "))).toMatchObject({ command: "help", args: [] });
    expect(parser.help()).toBe(
      [
        "device_add driver[,prop=value][,...] -- add device, like -device on the command line",
        "device_del device -- remove device",
        "help|? [cmd] -- show the help",
        "i /fmt addr -- I/O port read",
        "info [subcommand] -- show various information about the system state",
        "loadvm tag -- restore a VM snapshot from its tag",
        "o /fmt addr value -- I/O port write",
        "quit|q  -- quit the emulator",
        "savevm tag -- save a VM snapshot. If no tag is provided, a new snapshot is created",
        "system_reset  -- reset the system",
        "",
      ].join("\n"),
    );
  });

  it("help info (and a bare info) lists the enabled info subcommands", () => {
    const parser = new HmpParser();
    const listing =
      "info mtree [-f][-d][-o][-D] -- show memory tree (-f: dump flat view for address spaces;-d: dump dispatch tree, valid with -f only);-o: dump region owners/parents;-D: dump disabled regions\n" +
      "info pci  -- show PCI info\n" +
      "info qtree  -- show device tree\n";
    expect(parser.help("info")).toBe(listing);
    expect(parser.help("info ")).toBe(listing);
  });
});
