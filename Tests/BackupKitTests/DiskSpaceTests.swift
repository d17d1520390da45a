import BackupKit
import Foundation
import Testing

/// A full sink volume is a disk-space failure, as a full staging volume is: exit 7, a `disk_space`
/// alert, nothing under a final name.
@Suite(.serialized) struct DiskSpaceTests {
    /// A 1 MiB tmpfs at `path`, unmounted by the returned closure.
    static func mountSmallVolume(at path: String) throws -> () -> Void {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mount = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", path])
        #expect(mount.status == 0, "mounting a tmpfs needs root, as CI runs: \(mount.stderr)")
        return { _ = try? runProcess("/bin/umount", [path]) }
    }

    @Test func aFullSinkVolumeExitsSevenWithADiskSpaceAlert() throws {
        let dir = try TemporaryDirectory("full-sink")
        defer { dir.remove() }
        let unmount = try Self.mountSmallVolume(at: dir.sub("full"))
        defer { unmount() }
        try writeFile(dir.sub("data/blob.bin"), pseudoRandomBytes(3 << 20))
        try writeFile(dir.sub("backup.yml"), """
            name: app
            staging_dir: ./staging
            state_dir: ./state
            sources: [{ name: minio, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./full }]
            """)
        let run = try backupctl(["run", "--json"], in: dir.path)
        #expect(run.status == 7, "exit \(run.status): \(run.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let error = report?["error"] as? [String: Any]
        #expect(error?["code"] as? String == "disk_space", "\(run.stdout)")
        let finals = ((try? FileManager.default.contentsOfDirectory(atPath: dir.sub("full"))) ?? []).filter { !$0.hasPrefix(".") }
        #expect(finals.isEmpty, "nothing under a final name: \(finals)")
    }
}
