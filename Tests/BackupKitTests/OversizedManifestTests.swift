import BackupKit
import Foundation
import Testing

/// A file named like a manifest but far larger than any manifest is refused without being read:
/// `list` and `run` stay small in memory, and the set is kept for inspection.
@Suite struct OversizedManifestTests {
    @Test func aTwoGigabyteManifestIsNotReadAndItsSetIsKept() throws {
        let dir = try TemporaryDirectory("huge-manifest")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "alpha\n")
        try writeFile(dir.sub("backup.yml"), """
            name: app
            sources: [{ name: minio, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./backups }]
            retention: { keep_last: 1 }
            """)
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        // A sparse 2 GiB file: no disk used, but reading it whole would take 2 GiB of memory.
        let huge = dir.sub("backups/manifest_app_20240101_000000.json")
        #expect(try runProcess("/usr/bin/truncate", ["-s", "2G", huge]).status == 0)

        for command in [["list", "--json"], ["run"]] {
            let timed = try runProcess("/usr/bin/time", ["-f", "%M", backupctlPath] + command,
                                       environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BACKUP_") }, directory: dir.path)
            #expect(timed.status == 0, "\(command): \(timed.stderr)")
            let peakKiB = Int(timed.stderr.split(separator: "\n").last ?? "") ?? .max
            #expect(peakKiB < 100 * 1024, "\(command) peaked at \(peakKiB) KiB")
            if command[0] == "list" {
                #expect(timed.stdout.contains("manifest_app_20240101_000000.json is 2.0 GiB") && timed.stdout.contains("it was not read"), "\(timed.stdout)")
            }
        }
        #expect(FileManager.default.fileExists(atPath: huge), "retention keeps the set for inspection")
    }
}
