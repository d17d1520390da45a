/// A sink that can store an object made of new leading bytes and the tail of an object it holds,
/// without moving the tail through this host: S3's server-side copy of byte ranges. `backupctl key
/// rekey` uses it to give an encrypted artifact a new age header in time that does not grow with the
/// artifact. Sinks without it are rekeyed by reading the object and storing it again.
public protocol ObjectSplicing: Sink {
    /// Stores `key` as `head` followed by the bytes of the stored object `source` (of `sourceSize`
    /// bytes) from `offset` to its end, atomically as ``Sink/put(_:from:)`` does; `key` may be `source`.
    func splice(_ key: String, head: [UInt8], tailOf source: String, from offset: Int64, sourceSize: Int64) async throws
}
