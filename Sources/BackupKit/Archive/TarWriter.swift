import CArchive

/// Writes pax tar through libarchive into a compression stage.
final class TarWriter: ArchiveWriter {
    private let archive: OpaquePointer
    private let compressor: any Compressor
    private let callback: ArchiveCallbackContext
    private var current: (path: RawPath, size: Int64, written: Int64)?
    private(set) var entryCount = 0
    private(set) var contentBytes: Int64 = 0

    init(compressor: any Compressor) throws {
        self.compressor = compressor
        callback = ArchiveCallbackContext()
        guard let archive = archive_write_new() else { throw BackupError(.archive, "libarchive: cannot create a writer") }
        self.archive = archive
        let compressorRef = compressor
        callback.write = { try compressorRef.write($0) }
        try check(archive_write_set_format_pax(archive), "select the pax format")
        try check(archive_write_add_filter_none(archive), "select no filter")
        // libarchive hands its output on in blocks of 10 KiB by default, and each one pays the
        // compression stage's per-call cost (zstd's worker hand-off above all); 128 KiB blocks, what the
        // zstd tool reads at a time, cut those calls thirteenfold (larger ones only grow zstd's buffers).
        // The last block is still padded to 10 KiB, so the bytes are tar's usual ones.
        try check(archive_write_set_bytes_per_block(archive, Self.blockSize), "set the block size")
        try check(archive_write_set_bytes_in_last_block(archive, 10240), "set the last block's size")
        try check(
            archive_write_open2(archive, Unmanaged.passUnretained(callback).toOpaque(), nil, tarWriteCallback, nil, nil),
            "open the archive"
        )
    }

    deinit { archive_write_free(archive) }

    static let blockSize: Int32 = 128 << 10

    func beginEntry(_ entry: ArchiveEntry) throws {
        precondition(current == nil, "beginEntry before endEntry")
        try entry.withNative { native in
            let status = archive_write_header(archive, native)
            // Names that are not UTF-8 cannot be converted to pax's UTF-8: libarchive stores them as bytes
            // with hdrcharset=BINARY and says so with a warning. That warning is the expected outcome.
            if status == ARCHIVE_WARN && !entry.namesAreUTF8 { return }
            try check(status, "write the header of '\(entry.path.shortenedForMessage)'")
        }
        current = (entry.path, entry.kind == .file ? entry.size : 0, 0)
        entryCount += 1
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var entry = current else { throw BackupError(.archive, "tar: data written outside an entry") }
        guard entry.written + Int64(bytes.count) <= entry.size else {
            throw BackupError(.archive, "tar: '\(entry.path.shortenedForMessage)' got more than its declared \(entry.size) bytes")
        }
        var offset = 0
        while offset < bytes.count {
            let count = archive_write_data(archive, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 { try check(Int32(count), "write the data of '\(entry.path.shortenedForMessage)'") }
            offset += count
        }
        entry.written += Int64(bytes.count)
        contentBytes += Int64(bytes.count)
        current = entry
    }

    func endEntry() throws {
        guard let entry = current else { return }
        current = nil
        guard entry.written == entry.size else {
            throw BackupError(.archive, "tar: '\(entry.path.shortenedForMessage)' got \(entry.written) of its declared \(entry.size) bytes")
        }
        try check(archive_write_finish_entry(archive), "finish '\(entry.path.shortenedForMessage)'")
    }

    func finish() throws {
        try check(archive_write_close(archive), "close the archive")
        try compressor.finish()
    }

    private func check(_ status: Int32, _ what: String) throws {
        if status >= ARCHIVE_OK { return }
        if let error = callback.error { throw error }
        // A warning means libarchive changed something (a name it could not convert, say): fail closed.
        throw BackupError(.archive, "tar: cannot \(what): \(archiveErrorText(archive))")
    }
}

/// The state a C callback reaches through its `void *` context. A Swift error cannot cross the C
/// boundary: the callback stores it here and returns -1, and the caller rethrows it.
final class ArchiveCallbackContext {
    var write: ((UnsafeRawBufferPointer) throws -> Void)?
    var read: ((UnsafeMutableRawBufferPointer) throws -> Int)?
    var readBuffer: UnsafeMutableRawBufferPointer?
    var error: (any Error)?

    deinit { readBuffer?.deallocate() }
}

private let tarWriteCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeRawPointer?, Int) -> Int = {
    _, context, buffer, length in
    let state = Unmanaged<ArchiveCallbackContext>.fromOpaque(context!).takeUnretainedValue()
    do {
        try state.write?(UnsafeRawBufferPointer(start: buffer, count: length))
        return length
    } catch {
        state.error = error
        return -1
    }
}

/// libarchive's error text, with long words (the paths it quotes) shortened for messages.
func archiveErrorText(_ archive: OpaquePointer) -> String {
    (archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error").withLongWordsShortened
}
