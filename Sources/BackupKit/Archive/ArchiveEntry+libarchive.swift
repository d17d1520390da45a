import CArchive
import Glibc

extension ArchiveEntry {
    /// Builds libarchive's entry for this one and hands it to `body`. With `directory`, the entry's path
    /// and a hardlink's target are placed under it (for writing to disk); symlink targets stay as they are.
    func withNative<T>(under directory: String? = nil, _ body: (OpaquePointer) throws -> T) throws -> T {
        guard let native = archive_entry_new() else { throw BackupError(.archive, "libarchive: out of memory") }
        defer { archive_entry_free(native) }
        let prefix = directory.map { $0 + "/" } ?? ""
        archive_entry_set_pathname_utf8(native, prefix + path)
        switch kind {
        case .file:
            archive_entry_set_filetype(native, bk_ae_ifreg)
            archive_entry_set_size(native, size)
        case .hardlink:
            archive_entry_set_filetype(native, bk_ae_ifreg)
            archive_entry_set_size(native, 0)
            archive_entry_set_hardlink_utf8(native, prefix + (linkTarget ?? ""))
        case .directory:
            archive_entry_set_filetype(native, bk_ae_ifdir)
        case .symlink:
            archive_entry_set_filetype(native, bk_ae_iflnk)
            archive_entry_set_symlink_utf8(native, linkTarget ?? "")
        case .special:
            throw BackupError(.archive, "'\(path.shortenedForMessage)' is a device, FIFO or socket; BackupKit neither archives nor restores those")
        }
        archive_entry_set_perm(native, mode_t(permissions & 0o7777))
        archive_entry_set_uid(native, Int64(userID))
        archive_entry_set_gid(native, Int64(groupID))
        archive_entry_set_mtime(native, time_t(modificationTime.seconds), Int(modificationTime.nanoseconds))
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
            var bytes = Array(value.utf8)
            archive_entry_xattr_add_entry(native, key, &bytes, bytes.count)
        }
        return try body(native)
    }

    /// Reads libarchive's entry. Names that are not valid UTF-8 are refused rather than altered.
    init(native: OpaquePointer) throws {
        guard let pathPointer = archive_entry_pathname_utf8(native) ?? archive_entry_pathname(native) else {
            throw BackupError(.archive, "tar: an entry has no readable name")
        }
        let path = String(cString: pathPointer)
        let type = archive_entry_filetype(native)
        var kind: Kind
        var linkTarget: String?
        if let hardlink = archive_entry_hardlink_utf8(native) ?? archive_entry_hardlink(native) {
            kind = .hardlink
            linkTarget = String(cString: hardlink)
        } else if type == bk_ae_ifreg {
            kind = .file
        } else if type == bk_ae_ifdir {
            kind = .directory
        } else if type == bk_ae_iflnk {
            kind = .symlink
            linkTarget = (archive_entry_symlink_utf8(native) ?? archive_entry_symlink(native)).map { String(cString: $0) }
        } else {
            kind = .special
        }
        var attributes: [String: String] = [:]
        if archive_entry_xattr_reset(native) > 0 {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while archive_entry_xattr_next(native, &name, &value, &size) == ARCHIVE_OK {
                guard let name else { continue }
                let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                attributes[String(cString: name)] = String(decoding: bytes, as: UTF8.self)
            }
        }
        self.init(
            path: path,
            kind: kind,
            size: kind == .file ? archive_entry_size(native) : 0,
            permissions: UInt32(archive_entry_perm(native)),
            userID: UInt32(truncatingIfNeeded: archive_entry_uid(native)),
            groupID: UInt32(truncatingIfNeeded: archive_entry_gid(native)),
            modificationTime: FileTime(seconds: Int64(archive_entry_mtime(native)), nanoseconds: Int32(archive_entry_mtime_nsec(native))),
            linkTarget: linkTarget,
            attributes: attributes
        )
    }
}
