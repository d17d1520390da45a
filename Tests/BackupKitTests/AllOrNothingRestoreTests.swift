import BackupKit
import Foundation
import Testing

/// A restore writes all of its selected artifacts or nothing: every artifact is checked before the
/// first file is written, and files are written into a temporary directory that is moved into place
/// only once every artifact was restored.
@Suite(.serialized) struct AllOrNothingRestoreTests {
    /// The artifact names of the newest set in `dir/backups`, in manifest order.
    static func artifactNames(_ dir: TemporaryDirectory) throws -> [String] {
        let manifest = try #require(BackupctlTests.finalNames(dir.sub("backups")).last { $0.hasPrefix("manifest_") })
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.sub("backups/\(manifest)")))) as? [String: Any]
        return (json?["artifacts"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    /// Flips one byte in the middle of a stored artifact, fixing nothing else. The file is replaced (a
    /// new inode), so a second local sink's hard link to the same staged file keeps the good bytes.
    static func flipByte(in path: String) throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    @Test func aDamagedSecondArtifactWritesNothingToEitherTarget() throws {
        let dir = try BackupctlTests.workspace("restore-damaged-second")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let names = try Self.artifactNames(dir)
        #expect(names.count == 2, "\(names)")
        try Self.flipByte(in: dir.sub("backups/\(try #require(names.last))"))
        let restore = try backupctl(["restore", "--to", "restored"], in: dir.path)
        #expect(restore.status == 3, "a damaged artifact exits 3: exit \(restore.status): \(restore.stderr)")
        #expect(restore.stderr.contains(names.last!), "\(restore.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("restored")), "nothing was written: \(listTree(dir.sub("restored")))")
        #expect(BackupctlTests.finalNames(dir.path).allSatisfy { !$0.contains("restore") }, "no temporary directory is left: \(listTree(dir.path))")

        // --force into a non-empty target: the target is left as it was.
        try writeFile(dir.sub("kept/keep.txt"), "mine\n")
        let forced = try backupctl(["restore", "--force", "--to", "kept"], in: dir.path)
        #expect(forced.status == 3, "exit \(forced.status): \(forced.stderr)")
        #expect(listTree(dir.sub("kept")) == ["keep.txt"], "the target is unchanged: \(listTree(dir.sub("kept")))")
    }

    @Test func forceReplacesSameNamedFilesAndKeepsTheRest() throws {
        let dir = try BackupctlTests.workspace("restore-force-merge")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        try writeFile(dir.sub("restored/keep.txt"), "mine\n")
        try writeFile(dir.sub("restored/readme.txt"), "old\n")
        let restore = try backupctl(["restore", "--only", "minio", "--force", "--to", "restored"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(listTree(dir.sub("restored")) == ["blob.bin", "keep.txt", "readme.txt"], "\(listTree(dir.sub("restored")))")
        #expect(readFile(dir.sub("restored/readme.txt")) == readFile(dir.sub("data/readme.txt")))
        #expect(readFile(dir.sub("restored/keep.txt")) == Array("mine\n".utf8))
    }

    @Test func aFullTargetVolumeNamesTheTargetAndTheSpaceAndLeavesNothing() throws {
        let dir = try TemporaryDirectory("restore-full")
        defer { dir.remove() }
        try writeFile(dir.sub("data/blob.bin"), pseudoRandomBytes(3 << 20))
        try writeFile(dir.sub("backup.yml"), """
            name: app
            sources: [{ name: minio, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./backups }]
            """)
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let unmount = try DiskSpaceTests.mountSmallVolume(at: dir.sub("small"))
        defer { unmount() }
        let restore = try backupctl(["restore", "--to", "small/target"], in: dir.path)
        #expect(restore.status == 7, "exit \(restore.status): \(restore.stderr)")
        #expect(restore.stderr.contains(dir.sub("small/target")) && restore.stderr.contains("3.0 MiB"), "\(restore.stderr)")
        #expect(listTree(dir.sub("small")).isEmpty, "nothing is left behind: \(listTree(dir.sub("small")))")
    }

    @Test func aHostileArchiveIsARefusedRestore() async throws {
        let dir = try TemporaryDirectory("restore-hostile-cli")
        defer { dir.remove() }
        _ = try await RestoreSafetyTests.storeHostileSet(dir, script: "add('../escape.txt')")
        try writeFile(dir.sub("backup.yml"), """
            name: app
            sources: [{ name: minio, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./backups }]
            """)
        let restore = try backupctl(["restore", "--to", "target"], in: dir.path)
        #expect(restore.status == 8, "a refused hostile archive exits 8: exit \(restore.status): \(restore.stderr)")
        #expect(restore.stderr.contains("contains '..'"), "\(restore.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("target")) && !FileManager.default.fileExists(atPath: dir.sub("escape.txt")))
    }
}
