/**
 * Reference zigzag varint in exact bigint arithmetic: the bytes any 64-bit Avro writer (Java,
 * Python) produces for a long, including values no JS number can hold.
 */
export function zigzagVarint(n: bigint): Buffer {
  let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
  const out: number[] = [];
  do {
    let byte = Number(z & 0x7fn);
    z >>= 7n;
    if (z !== 0n) byte |= 0x80;
    out.push(byte);
  } while (z !== 0n);
  return Buffer.from(out);
}
