import CArchive
import Foundation
import Glibc

/// Writes a tree archive's entries into a directory through libarchive's disk writer, with its
/// protections on: no `..`, no writing through symlinks, plus our own refusals of absolute paths and
/// device nodes. Modes, mtimes and links come back as archived; owners too when running as root.
package final class DiskExtractor {
    public let directory: String
    private let disk: OpaquePointer

    /// Prepares to extract into `directory`, creating it if needed. A directory that already holds
    /// files is refused unless `force` is set.
    public init(directory: String, force: Bool) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw BackupError(.restoreFailed, "restore target \(directory) exists and is not a directory")
            }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            if !contents.isEmpty && !force {
                throw BackupError(.restoreFailed, "restore target \(directory) is not empty (\(contents.count) entries). Choose an empty directory, or pass --force to restore into it; files with the same names are then replaced.")
            }
        } else {
            try makeDirectory(directory, purpose: "the restore target", as: .restoreFailed)
        }
        // libarchive refuses to write through symlinks on the whole path; resolve the target's own.
        guard let resolved = realpath(directory, nil) else { throw fileSystemError("cannot resolve", directory) }
        self.directory = String(cString: resolved)
        free(resolved)
        guard let disk = archive_write_disk_new() else { throw BackupError(.restoreFailed, "libarchive: cannot create a disk writer") }
        self.disk = disk
        var flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS
        if geteuid() == 0 { flags |= ARCHIVE_EXTRACT_OWNER }
        archive_write_disk_set_options(disk, flags)
    }

    deinit { archive_write_free(disk) }

    /// Extracts every entry, or only those `paths` select (all when empty; the others are checked and
    /// skipped); returns the entry count and content bytes.
    public func extract(from reader: any ArchiveReader, paths: [GlobPattern] = [],
                        isCancelled: () -> Bool = { false }) throws -> (entries: Int, bytes: Int64) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        var entries = 0
        var bytes: Int64 = 0
        var safety = EntrySafety()
        while let entry = try reader.nextEntry() {
            if isCancelled() { throw CancellationError() }
            try safety.check(entry)
            if !paths.isEmpty, !paths.contains(where: { $0.selects(entry.path, isDirectory: entry.kind == .directory) }) { continue }
            try writeHeader(entry)
            if entry.kind == .file {
                while true {
                    let count = try reader.read(into: buffer)
                    if count == 0 { break }
                    var offset = 0
                    while offset < count {
                        let written = archive_write_data(disk, buffer.baseAddress! + offset, count - offset)
                        guard written >= 0 else { throw failure("write", entry.path.description) }
                        offset += written
                    }
                    bytes += Int64(count)
                }
            }
            guard archive_write_finish_entry(disk) >= ARCHIVE_WARN else { throw failure("finish", entry.path.description) }
            entries += 1
        }
        // Directory modes and times are set last, once their contents are in place.
        guard archive_write_close(disk) == ARCHIVE_OK else { throw failure("finish", directory) }
        return (entries, bytes)
    }

    private func writeHeader(_ entry: ArchiveEntry) throws {
        try entry.withNative(under: directory) { native in
            guard archive_write_header(disk, native) >= ARCHIVE_WARN else { throw failure("create", entry.path.description) }
        }
    }

    /// The disk writer's error; a full file system (ENOSPC, EDQUOT) is a ``BackupError/Code/diskSpace`` error.
    private func failure(_ action: String, _ path: String) -> BackupError {
        let code = archive_errno(disk)
        if code == ENOSPC || code == EDQUOT {
            return BackupError(.diskSpace, "cannot \(action) '\(path.shortenedForMessage)' under \(directory): \(errnoMessage(code))")
        }
        return BackupError(.restoreFailed, "cannot \(action) '\(path.shortenedForMessage)' under \(directory): \(archiveErrorText(disk))")
    }
}

/// The standard restore of a tree artifact: extract it into a directory, refusing `..`, absolute paths,
/// writing through symlinks and device nodes before anything is written. Directory-like sources use it,
/// your own among them.
public enum TreeRestore {
    public static func restore(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreReport {
        guard request.destination.kind == .directory else {
            throw BackupError(.usage, "\(request.artifact.name) holds files; restore it to a directory with --to DIR")
        }
        let extractor = try DiskExtractor(directory: request.destination.value, force: request.force)
        let (entries, bytes) = try extractor.extract(from: archive, paths: request.paths, isCancelled: context.isCancelled)
        if entries == 0, !request.paths.isEmpty {
            throw BackupError(.notFound, "no entry of \(request.artifact.name) matches --path \(request.paths.map(\.pattern).joined(separator: " or ")); `backupctl restore --dry-run` shows the set, and `tar tzf` lists an artifact's entries")
        }
        return RestoreReport(artifact: request.artifact.name, destination: extractor.directory, entries: entries, bytes: bytes)
    }
}
