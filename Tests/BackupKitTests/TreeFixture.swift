import BackupKit
import Foundation
import Glibc

/// A tree with every kind of entry the archive must keep, built by the test itself.
enum TreeFixture {
    static let longName = String(repeating: "n", count: 196) + ".txt"  // 200 characters
    static let unicodeNames = ["Příliš žluťoučký kůň.txt", "名前 with spaces/ファイル 1.txt", "emoji 🦄 dir/ü ö ä.md"]

    /// Builds the tree under `root` and returns it.
    static func build(at root: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        try writeFile(root + "/plain.txt", "hello\n")
        try writeFile(root + "/secret.env", "TOKEN=abc\n", mode: 0o600)
        try writeFile(root + "/run.sh", "#!/bin/sh\necho hi\n", mode: 0o755)
        try writeFile(root + "/empty-file", "")
        try fm.createDirectory(atPath: root + "/empty-dir", withIntermediateDirectories: true)
        try writeFile(root + "/" + longName, "long name\n")
        for (index, name) in unicodeNames.enumerated() { try writeFile(root + "/" + name, "unicode \(index)\n") }
        var deep = root
        for level in 1...30 { deep += "/d\(level)" }
        try writeFile(deep + "/bottom.txt", "thirty levels down\n")
        try writeFile(root + "/data/blob.bin", pseudoRandomBytes(3 << 20))  // larger than the small-file limit
        try writeFile(root + "/data/original", "linked twice\n")
        try fm.createDirectory(atPath: root + "/other", withIntermediateDirectories: true)
        guard link(root + "/data/original", root + "/other/hardlink") == 0 else { throw BackupError(.io, "link failed") }
        guard symlink("../data/original", root + "/other/relative-link") == 0,
              symlink("does/not/exist", root + "/dangling-link") == 0 else { throw BackupError(.io, "symlink failed") }
        chmod(root + "/empty-dir", 0o700)
        // Distinct mtimes with nanoseconds on everything, deepest first so directories keep theirs.
        var stamp = 1_700_000_000
        for relative in listTree(root).reversed() {
            stamp += 7
            var times = [timespec(tv_sec: stamp, tv_nsec: 123_456_789), timespec(tv_sec: stamp, tv_nsec: 123_456_789)]
            utimensat(AT_FDCWD, root + "/" + relative, &times, AT_SYMLINK_NOFOLLOW)
        }
    }

    struct Node: Equatable, CustomStringConvertible {
        var type: String
        var mode: UInt32
        var mtime: String
        var content: [UInt8]?
        var link: String?
        var description: String { "\(type) mode \(String(mode, radix: 8)) mtime \(mtime) link \(link ?? "-") \(content.map { "\($0.count) bytes" } ?? "")" }
    }

    /// Everything a restore must bring back, per relative path.
    static func snapshot(_ root: String) -> [String: Node] {
        var result: [String: Node] = [:]
        for relative in listTree(root) {
            let path = root + "/" + relative
            var info = stat()
            lstat(path, &info)
            let kind = info.st_mode & S_IFMT
            var node = Node(type: kind == S_IFDIR ? "dir" : kind == S_IFLNK ? "symlink" : "file", mode: UInt32(info.st_mode & 0o7777),
                            mtime: "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)", content: nil, link: nil)
            if kind == S_IFREG { node.content = readFile(path) }
            if kind == S_IFLNK {
                node.link = try? FileManager.default.destinationOfSymbolicLink(atPath: path)
                node.mode = 0  // symlink modes are not meaningful on Linux
            }
            result[relative] = node
        }
        return result
    }

    /// The groups of paths that share an inode (hardlinks).
    static func hardlinkGroups(_ root: String) -> Set<Set<String>> {
        var byInode: [UInt: Set<String>] = [:]
        for relative in listTree(root) {
            var info = stat()
            lstat(root + "/" + relative, &info)
            if (info.st_mode & S_IFMT) == S_IFREG, info.st_nlink > 1 { byInode[UInt(info.st_ino), default: []].insert(relative) }
        }
        return Set(byInode.values)
    }
}
