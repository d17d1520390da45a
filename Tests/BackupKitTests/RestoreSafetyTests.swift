import BackupKit
import BackupSinks
import BackupSources
import Foundation
import Testing

/// Hostile archives are refused before anything is written: `..`, absolute paths, writing through a
/// symlink, device nodes.
@Suite struct RestoreSafetyTests {
    /// Writes a tar.gz with Python's tarfile (an independent writer) and stores it as a set with a
    /// manifest that matches it, so only the entries themselves are hostile.
    static func storeHostileSet(_ dir: TemporaryDirectory, script: String) async throws -> BackupPlan {
        let artifact = "minio_hostile_20240101_000000.tar.gz"
        let path = dir.sub("backups/\(artifact)")
        try FileManager.default.createDirectory(atPath: dir.sub("backups"), withIntermediateDirectories: true)
        let python = """
        import tarfile, io
        t = tarfile.open('\(path)', 'w:gz', format=tarfile.PAX_FORMAT)
        def add(name, data=b'x', **kw):
            info = tarfile.TarInfo(name)
            for k, v in kw.items(): setattr(info, k, v)
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
        add('good.txt')
        \(script)
        t.close()
        """
        let result = try runProcess("/usr/bin/python3", ["-c", python])
        #expect(result.status == 0, "\(result.stderr)")
        let reader = try FileReader(path: path, computeDigest: true)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { buffer.deallocate() }
        while try reader.read(into: buffer) > 0 {}
        let digest = reader.digest!.finalize()
        let manifest = Manifest(
            plan: "app", timestamp: SetTimestamp("20240101_000000")!, host: "h", startedAt: Date(), completedAt: Date(),
            artifacts: [ManifestArtifact(name: artifact, source: "minio", sourceType: "directory", subject: "hostile", format: "tar.gz",
                                         layout: .tree, size: digest.size, sha256: digest.sha256, contentBytes: 0, entries: 2, durationSeconds: 0,
                                         verification: VerificationRecord(status: .passed, checkedAt: Date(), checks: []))]
        )
        try writeSignedManifest(manifest, in: dir.sub("backups"))
        return BackupPlan(name: "app", sources: [DirectorySource(name: "minio", configuration: .init(path: dir.sub("data")))],
                          sinks: [LocalSink(directory: dir.sub("backups"))])
    }

    @Test(arguments: [
        ("add('../escape.txt')", "contains '..'"),
        ("add('a/../../escape.txt')", "contains '..'"),
        ("add('/tmp/backupkit-absolute.txt')", "absolute path"),
        ("add('dev', type=tarfile.CHRTYPE, devmajor=1, devminor=3)", "device node"),
        ("add('fifo', type=tarfile.FIFOTYPE)", "device node"),
        ("add('hl', type=tarfile.LNKTYPE, linkname='../../etc/passwd')", "contains '..'"),
        // Names that are not UTF-8 are checked as their bytes and shown with \x escapes.
        ("add('caf\\udce9/../../escape.txt')", "'caf\\xE9/../../escape.txt' contains '..'"),
        ("add('/tmp/backupkit-absolute-\\udcff.txt')", "absolute path ('/tmp/backupkit-absolute-\\xFF.txt')"),
    ])
    func hostileEntriesAreRefusedBeforeAnythingIsWritten(script: String, expected: String) async throws {
        let dir = try TemporaryDirectory("hostile")
        defer { dir.remove() }
        let plan = try await Self.storeHostileSet(dir, script: script)
        let target = dir.sub("restore/target")
        do {
            _ = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .directory(target)))
            Issue.record("the hostile archive was restored")
        } catch let error as BackupError {
            #expect(error.message.contains(expected), "\(error.message)")
        }
        #expect(listTree(dir.sub("restore")).filter { $0 != "target" }.isEmpty, "nothing was written: \(listTree(dir.sub("restore")))")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("escape.txt")) && !FileManager.default.fileExists(atPath: "/tmp/backupkit-absolute.txt"))
    }

    @Test func writingThroughASymlinkIsRefused() async throws {
        let dir = try TemporaryDirectory("through-link")
        defer { dir.remove() }
        let outside = dir.sub("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let plan = try await Self.storeHostileSet(dir, script: "add('link', type=tarfile.SYMTYPE, linkname='\(outside)')\nadd('link/planted.txt')")
        do {
            _ = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .directory(dir.sub("target"))))
            Issue.record("an archive that writes through its own symlink was restored")
        } catch let error as BackupError {
            #expect(error.message.contains("through the symlink 'link'"), "\(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: outside + "/planted.txt"), "nothing was written through the symlink")
        #expect(listTree(dir.sub("target")).isEmpty, "nothing was written at all")
    }
}
