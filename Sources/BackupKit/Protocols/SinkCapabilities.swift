import Foundation

/// What differs between sinks, as values rather than type checks.
public struct SinkCapabilities: Sendable, Hashable {
    /// Puts and gets stream with bounded memory. Only reference sinks for tests say false.
    public var boundedMemory: Bool
    /// The directory where the sink keeps its files, when that is on this host. The run stages
    /// artifacts and keeps its lock file beside it, so a finished artifact reaches its final name by a
    /// rename on the same file system instead of a second copy.
    public var localDirectory: String?

    public init(boundedMemory: Bool = true, localDirectory: String? = nil) {
        self.boundedMemory = boundedMemory
        self.localDirectory = localDirectory
    }
}
