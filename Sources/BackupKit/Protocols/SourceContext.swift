import Logging

/// What a source may use while it works. Everything here is safe to call from any thread.
public struct SourceContext: Sendable {
    public var planName: String
    public var logger: Logger
    /// Where a source may put temporary files; the run removes them.
    public var stagingDirectory: String
    /// Records a warning in the run report and the manifest.
    public var warn: @Sendable (String) -> Void
    /// Reports content bytes read so far, for progress.
    public var progress: @Sendable (Int64) -> Void
    /// True once the run is cancelled; long loops check it and throw `CancellationError`.
    public var isCancelled: @Sendable () -> Bool
    /// For the index artifact of an incremental source (``SourceArtifact/incrementalIndex(subject:)``):
    /// the previous set and the packs, which ``IncrementalWriter`` uses. Nil for every other artifact.
    public var incremental: IncrementalSession?

    public init(
        planName: String, logger: Logger, stagingDirectory: String,
        warn: @escaping @Sendable (String) -> Void = { _ in },
        progress: @escaping @Sendable (Int64) -> Void = { _ in },
        isCancelled: @escaping @Sendable () -> Bool = { false },
        incremental: IncrementalSession? = nil
    ) {
        self.incremental = incremental
        self.planName = planName
        self.logger = logger
        self.stagingDirectory = stagingDirectory
        self.warn = warn
        self.progress = progress
        self.isCancelled = isCancelled
    }

    public func checkCancellation() throws {
        if isCancelled() { throw CancellationError() }
    }
}
