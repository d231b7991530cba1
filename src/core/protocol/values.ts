/**
 * How Python values of the pickle subset look in JavaScript. Python types are kept distinct so that
 * a round trip preserves them: int is bigint, float is number, tuple is PickleTuple, list is Array.
 */
export type PickleKey = string | bigint

/** A value the pickle subset decodes or encodes: None, bool, int (bigint), float, str, bytes, list, tuple, dict. */
export type PickleValue =
  null | boolean | bigint | number | string | Buffer | PickleValue[] | PickleTuple | PickleDict | StreamedBytes

/** A Python dict. A Map, so that keys such as `__proto__` are plain data. */
export type PickleDict = Map<PickleKey, PickleValue>

/** A Python tuple (kept apart from list so that types survive a round trip). */
export class PickleTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

/**
 * Stands in for a bytes value that the decoder handed to a sink chunk by chunk instead of keeping it.
 * `length` is the number of decoded bytes that went to the sink.
 */
export class StreamedBytes {
  constructor(
    readonly key: string,
    readonly length: number,
  ) {}
}
