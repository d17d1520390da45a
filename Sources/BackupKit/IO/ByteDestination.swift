import Synchronization

/// Where ``Sink/get(_:into:)`` writes the bytes it reads. It is `Sendable` so a sink may write from
/// whatever thread its transport calls back on, one chunk at a time, in order.
public final class ByteDestination: Sendable {
    private let state: Mutex<State>

    private struct State: ~Copyable {
        var handler: (UnsafeRawBufferPointer) throws -> Void
        var digest = DigestAccumulator()
    }

    /// A destination that hands each chunk to `handler` and keeps a running size and SHA-256.
    public init(_ handler: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) {
        state = Mutex(State(handler: handler))
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try state.withLock { state in
            try state.handler(bytes)
            state.digest.update(bytes)
        }
    }

    /// Size and SHA-256 of everything written so far.
    public var digest: FileDigest { state.withLock { $0.digest.finalize() } }

    /// A destination that keeps the bytes in memory; for manifests and other small objects.
    public static func memory() -> (ByteDestination, @Sendable () -> [UInt8]) {
        let buffer = Mutex<[UInt8]>([])
        let destination = ByteDestination { bytes in buffer.withLock { $0.append(contentsOf: bytes) } }
        return (destination, { buffer.withLock { $0 } })
    }
}
