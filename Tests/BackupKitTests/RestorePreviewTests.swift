import BackupKit
import Foundation
import Testing

/// `restore --dry-run`: what would be written where, and nothing written, no hook run.
@Suite struct RestorePreviewTests {
    @Test func aDryRunShowsTargetsAndHooksAndWritesNothing() throws {
        let dir = try TemporaryDirectory("restore-preview")
        defer { dir.remove() }
        try writeFile(dir.sub("data/readme.txt"), String(repeating: "preview me\n", count: 50))
        try writeFile(dir.sub("etc/app.conf"), "setting = 1\n")
        try writeFile(dir.sub("backup.yml"), """
        name: preview
        sources:
          - { name: files, type: directory, path: ./data }
          - { name: config, type: files, paths: [./etc/app.conf] }
        sinks:
          - { name: local, type: local, path: ./backups }
        hooks:
          before_restore: ["touch before-ran"]
          after_restore: ["touch after-ran"]
        """)
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        try writeFile(dir.sub("target/config/existing.txt"), "keep me\n")
        let before = listTree(dir.sub("target"))

        let text = try backupctl(["restore", "--dry-run", "--to", "target"], in: dir.path)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("dry run: nothing is written"), "\(text.stdout)")
        #expect(text.stdout.contains("→ directory \(dir.sub("target/files")): missing: it will be created"), "\(text.stdout)")
        #expect(text.stdout.contains("→ directory \(dir.sub("target/config")): not empty (1 entries): the restore will be refused without --force"), "\(text.stdout)")
        #expect(text.stdout.contains("before_restore hooks: touch before-ran") && text.stdout.contains("after_restore hooks: touch after-ran"), "\(text.stdout)")

        let json = try backupctl(["restore", "--dry-run", "--to", "target", "--only", "files", "--json"], in: dir.path)
        #expect(json.status == 0)
        #expect(try CommandOutputTests.violation(of: "restore-dry-run", in: json.stdout) == nil, "\(json.stdout)")
        let artifacts = (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["artifacts"] as? [[String: Any]]
        #expect(artifacts?.count == 1 && artifacts?.first?["content_bytes"] as? Int == 550
                && artifacts?.first?["target_state"] as? String == "not empty (1 entries): the restore will be refused without --force",
                "one artifact goes into the target itself, which holds config/: \(String(describing: artifacts))")

        #expect(listTree(dir.sub("target")) == before, "nothing was written")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("before-ran")) && !FileManager.default.fileExists(atPath: dir.sub("after-ran")), "no hook ran")
        // The same command without --dry-run does what the preview said: refused, as the config target is not empty.
        let real = try backupctl(["restore", "--to", "target"], in: dir.path)
        #expect(real.status == 8 && real.stderr.contains("not empty"), "\(real.stderr)")
    }
}
