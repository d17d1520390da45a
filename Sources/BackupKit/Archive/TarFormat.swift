import Glibc

/// tar in libarchive's pax format, compressed by a stage of its own (gzip on every core by default).
/// GNU tar, `gunzip -t` and `zstd -t` accept what it writes.
public struct TarFormat: ArchiveFormat {
    public var compression: Compression
    public var level: Int?
    public var threads: Int

    public init(compression: Compression = .gzip, level: Int? = nil, threads: Int = availableProcessors()) {
        self.compression = compression
        self.level = level
        self.threads = threads
    }

    public var name: String { ["tar", compression.fileExtension].compactMap { $0 }.joined(separator: ".") }
    public var layout: ArchiveLayout { .tree }
    public var fileExtension: String { name }

    public var compresses: Bool { compression != .none }

    public func configured(_ options: ArchiveOptions) throws -> any ArchiveFormat {
        TarFormat(compression: compression, level: try compression.checkedLevel(options.level, format: name), threads: options.threads)
    }

    public func makeWriter(output: @escaping ByteOutput) throws -> any ArchiveWriter {
        try TarWriter(compressor: compression.makeCompressor(level: level, threads: threads, output: output))
    }

    public func makeReader(input: @escaping ByteInput) throws -> any ArchiveReader {
        try TarReader(decompressor: compression.makeDecompressor(input: input))
    }
}

/// The number of cores this process may use.
public func availableProcessors() -> Int {
    max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}

/// Reads a decompressor to its verified end.
func drain(_ decompressor: any Decompressor) throws {
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    defer { scratch.deallocate() }
    while try decompressor.read(into: scratch) > 0 {}
}
