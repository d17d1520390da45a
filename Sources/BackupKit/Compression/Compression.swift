/// How an artifact's bytes are compressed. Compression is a stage of its own, apart from tar writing,
/// so that it can use every core: gzip runs as independent blocks in parallel (as pigz does), zstd uses
/// its own worker threads.
public enum Compression: String, Sendable, Codable, CaseIterable {
    case gzip
    case zstd
    case none

    /// The suffix the artifact name gets, such as "gz"; nil when the bytes are stored as they are.
    public var fileExtension: String? {
        switch self {
        case .gzip: "gz"
        case .zstd: "zst"
        case .none: nil
        }
    }

    public var defaultLevel: Int {
        switch self {
        case .gzip: 6
        case .zstd: 3
        case .none: 0
        }
    }

    public var levels: ClosedRange<Int> {
        switch self {
        case .gzip: 1...9
        case .zstd: 1...19
        case .none: 0...0
        }
    }

    /// `level` if this compression has it; nil stays nil (the default level).
    func checkedLevel(_ level: Int?, format: String) throws -> Int? {
        guard let level else { return nil }
        guard levels.contains(level) else {
            throw BackupError(.invalidPlan, "level \(level) is out of range for \(format); use \(levels.lowerBound) to \(levels.upperBound)")
        }
        return level
    }

    /// Makes the stage that compresses bytes written to it and hands the result to `output`.
    func makeCompressor(level: Int?, threads: Int, output: @escaping ByteOutput) throws -> any Compressor {
        let level = level ?? defaultLevel
        switch self {
        case .gzip: return ParallelGzipCompressor(level: level, threads: threads, output: output)
        case .zstd: return try ZstdCompressor(level: level, threads: threads, output: output)
        case .none: return PassthroughCompressor(output: output)
        }
    }

    /// Makes the stage that reads compressed bytes from `input` and returns them decompressed.
    func makeDecompressor(input: @escaping ByteInput) throws -> any Decompressor {
        switch self {
        case .gzip: return try GzipDecompressor(input: input)
        case .zstd: return try ZstdDecompressor(input: input)
        case .none: return PassthroughDecompressor(input: input)
        }
    }
}

/// Where a stage pushes its bytes.
public typealias ByteOutput = (UnsafeRawBufferPointer) throws -> Void
/// Where a stage pulls its bytes from: fills the buffer, returns the count, 0 at the end.
public typealias ByteInput = (UnsafeMutableRawBufferPointer) throws -> Int

func corruptStream(_ what: String) -> BackupError {
    BackupError(.archive, what)
}
