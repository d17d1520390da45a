import BackupKit
import Foundation
import Testing

/// `restore --path`: part of a set, and only that part, from the real binary.
struct PartialRestoreTests {
    static func workspace(_ label: String) throws -> TemporaryDirectory {
        let dir = try BackupctlTests.workspace(label)
        for tenant in ["tenant-7", "tenant-8"] {
            for year in ["2023", "2024"] {
                try writeFile(dir.sub("data/\(tenant)/\(year)/invoice.pdf"), pseudoRandomBytes(3000, seed: UInt64(year)! &+ UInt64(tenant.count)))
                try writeFile(dir.sub("data/\(tenant)/\(year)/notes.txt"), "\(tenant) \(year)\n")
            }
        }
        let run = try backupctl(["run"], in: dir.path)
        #expect(run.status == 0, "\(run.stderr)")
        return dir
    }

    /// Every file under `root`, relative to it.
    static func files(_ root: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var found: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue { found.append(path) }
        }
        return found.sorted()
    }

    @Test func aGlobRestoresOnlyWhatItSelectsWithItsContent() throws {
        let dir = try Self.workspace("partial-glob")
        defer { dir.remove() }
        let restore = try backupctl(["restore", "--only", "minio", "--path", "tenant-7/2024/**", "--to", "part"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(Self.files(dir.sub("part")) == ["tenant-7/2024/invoice.pdf", "tenant-7/2024/notes.txt"])
        #expect(readFile(dir.sub("part/tenant-7/2024/invoice.pdf")) == readFile(dir.sub("data/tenant-7/2024/invoice.pdf")))
        #expect(restore.stdout.contains(": 2 entries,"), "\(restore.stdout)")
    }

    @Test func aDirectoryNameSelectsEverythingBelowItAndPatternsAdd() throws {
        let dir = try Self.workspace("partial-dir")
        defer { dir.remove() }
        let restore = try backupctl(["restore", "--only", "minio", "--path", "tenant-8", "--path", "**/2023/notes.txt", "--to", "part"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(Self.files(dir.sub("part")) == ["tenant-7/2023/notes.txt", "tenant-8/2023/invoice.pdf", "tenant-8/2023/notes.txt",
                                                 "tenant-8/2024/invoice.pdf", "tenant-8/2024/notes.txt"])
    }

    @Test func nothingSelectedIsAnErrorAndLeavesNothing() throws {
        let dir = try Self.workspace("partial-none")
        defer { dir.remove() }
        let restore = try backupctl(["restore", "--only", "minio", "--path", "tenant-9/**", "--to", "part"], in: dir.path)
        #expect(restore.status == 9, "\(restore.status): \(restore.stderr)")
        #expect(restore.stderr.contains("no entry of minio_pdfs_") && restore.stderr.contains("tenant-9/**"), "\(restore.stderr)")
        #expect(Self.files(dir.sub("part")).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir.sub("part")) || BackupctlTests.finalNames(dir.sub("part")).isEmpty)
    }

    @Test func onlyForDirectoryTargets() throws {
        let dir = try BackupctlTests.workspace("partial-usage")
        defer { dir.remove() }
        let toDatabase = try backupctl(["restore", "--path", "a/**", "--to-database", "x"], in: dir.path)
        #expect(toDatabase.status == 2 && toDatabase.stderr.contains("--path selects files to restore into a directory"), "\(toDatabase.stderr)")
        let mirror = try backupctl(["restore", "--path", "a/**", "--to", "x", "--mirror"], in: dir.path)
        #expect(mirror.status == 2 && mirror.stderr.contains("--mirror"), "\(mirror.stderr)")
    }
}
