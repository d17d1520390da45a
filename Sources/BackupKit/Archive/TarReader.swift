import CArchive

/// Reads pax/ustar/GNU tar through libarchive, pulling decompressed bytes from a decompression stage.
final class TarReader: ArchiveReader {
    private let archive: OpaquePointer
    private let decompressor: any Decompressor
    private let callback: ArchiveCallbackContext
    private var finished = false

    init(decompressor: any Decompressor) throws {
        self.decompressor = decompressor
        callback = ArchiveCallbackContext()
        callback.readBuffer = .allocate(byteCount: 256 * 1024, alignment: 16)
        callback.read = { try decompressor.read(into: $0) }
        guard let archive = archive_read_new() else { throw BackupError(.archive, "libarchive: cannot create a reader") }
        self.archive = archive
        archive_read_support_format_tar(archive)
        try check(
            archive_read_open2(archive, Unmanaged.passUnretained(callback).toOpaque(), nil, tarReadCallback, nil, nil),
            "open the archive"
        )
    }

    deinit { archive_read_free(archive) }

    func nextEntry() throws -> ArchiveEntry? {
        guard !finished else { return nil }
        var native: OpaquePointer?
        let status = archive_read_next_header(archive, &native)
        if status == ARCHIVE_EOF {
            finished = true
            // libarchive stops at the end-of-archive marker; read the rest so that the compressed
            // stream's trailer and checksum are verified too.
            try drain(decompressor)
            return nil
        }
        try check(status, "read the next entry")
        guard let native else { throw BackupError(.archive, "tar: missing entry header") }
        return try ArchiveEntry(native: native)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = archive_read_data(archive, buffer.baseAddress, buffer.count)
        if count < 0 { try check(Int32(count), "read entry data") }
        return count
    }

    private func check(_ status: Int32, _ what: String) throws {
        if status >= ARCHIVE_OK { return }
        if let error = callback.error { throw error }
        throw BackupError(.archive, "tar: cannot \(what): \(archiveErrorText(archive))")
    }
}

private let tarReadCallback: @convention(c) (
    OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeRawPointer?>?
) -> Int = { _, context, bufferOut in
    let state = Unmanaged<ArchiveCallbackContext>.fromOpaque(context!).takeUnretainedValue()
    do {
        let buffer = state.readBuffer!
        let count = try state.read?(buffer) ?? 0
        bufferOut?.pointee = UnsafeRawPointer(buffer.baseAddress)
        return count
    } catch {
        state.error = error
        return -1
    }
}

