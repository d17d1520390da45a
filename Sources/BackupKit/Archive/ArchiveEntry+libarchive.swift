import CArchive
import Glibc

extension ArchiveEntry {
    /// Builds libarchive's entry for this one and hands it to `body`. With `directory`, the entry's path
    /// and a hardlink's target are placed under it (for writing to disk); symlink targets stay as they are.
    ///
    /// Names are set as UTF-8 when all of them are, as they always were; an entry with a name that is not
    /// UTF-8 gets all its names as their bytes, which libarchive's pax writer stores with
    /// `hdrcharset=BINARY` (returning ARCHIVE_WARN) and its disk writer uses as they are.
    func withNative<T>(under directory: String? = nil, _ body: (OpaquePointer) throws -> T) throws -> T {
        guard let native = archive_entry_new() else { throw BackupError(.archive, "libarchive: out of memory") }
        defer { archive_entry_free(native) }
        let prefix = directory.map { Array(($0 + "/").utf8) } ?? []
        let asUTF8 = namesAreUTF8
        func set(_ name: RawPath, _ utf8: (OpaquePointer?, UnsafePointer<CChar>?) -> Void,
                 _ raw: (OpaquePointer?, UnsafePointer<CChar>?) -> Void) {
            name.withCString { asUTF8 ? utf8(native, $0) : raw(native, $0) }
        }
        set(RawPath(bytes: prefix + path.bytes), archive_entry_set_pathname_utf8, archive_entry_copy_pathname)
        switch kind {
        case .file:
            archive_entry_set_filetype(native, bk_ae_ifreg)
            archive_entry_set_size(native, size)
        case .hardlink:
            archive_entry_set_filetype(native, bk_ae_ifreg)
            archive_entry_set_size(native, 0)
            set(RawPath(bytes: prefix + (linkTarget?.bytes ?? [])), archive_entry_set_hardlink_utf8, archive_entry_copy_hardlink)
        case .directory:
            archive_entry_set_filetype(native, bk_ae_ifdir)
        case .symlink:
            archive_entry_set_filetype(native, bk_ae_iflnk)
            set(linkTarget ?? "", archive_entry_set_symlink_utf8, archive_entry_copy_symlink)
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

    /// Reads libarchive's entry. Names are taken as their bytes: the UTF-8 form when libarchive has one
    /// (pax names), otherwise the bytes as stored (`hdrcharset=BINARY`, or an old tar's names).
    init(native: OpaquePointer) throws {
        guard let path = Self.name(archive_entry_pathname_utf8(native), archive_entry_pathname(native)) else {
            throw BackupError(.archive, "tar: an entry has no readable name")
        }
        let type = archive_entry_filetype(native)
        var kind: Kind
        var linkTarget: RawPath?
        if let hardlink = Self.name(archive_entry_hardlink_utf8(native), archive_entry_hardlink(native)) {
            kind = .hardlink
            linkTarget = hardlink
        } else if type == bk_ae_ifreg {
            kind = .file
        } else if type == bk_ae_ifdir {
            kind = .directory
        } else if type == bk_ae_iflnk {
            kind = .symlink
            linkTarget = Self.name(archive_entry_symlink_utf8(native), archive_entry_symlink(native))
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

    private static func name(_ utf8: UnsafePointer<CChar>?, _ stored: UnsafePointer<CChar>?) -> RawPath? {
        (utf8 ?? stored).map(RawPath.init(cString:))
    }
}
