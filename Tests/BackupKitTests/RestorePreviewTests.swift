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

/// `restore --mirror`: the target ends up exactly the set, and the preview says so first.
@Suite struct RestoreMirrorTests {
    @Test func aMirroredTargetHoldsExactlyTheSet() throws {
        let dir = try TemporaryDirectory("restore-mirror")
        defer { dir.remove() }
        try writeFile(dir.sub("data/keep.txt"), "in the set\n")
        try writeFile(dir.sub("data/sub/also.txt"), "in the set too\n")
        try writeFile(dir.sub("backup.yml"), """
        name: mirror
        sources:
          - { name: files, type: directory, path: ./data }
        sinks:
          - { name: local, type: local, path: ./backups }
        """)
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        try writeFile(dir.sub("target/keep.txt"), "changed since\n")
        try writeFile(dir.sub("target/stray.txt"), "not in the set\n")
        try writeFile(dir.sub("target/sub/stray2.txt"), "not in the set either\n")
        try writeFile(dir.sub("target/other/deep.txt"), "a whole directory the set lacks\n")

        let preview = try backupctl(["restore", "--mirror", "--dry-run", "--to", "target"], in: dir.path)
        #expect(preview.stdout.contains("entries it does not hold are removed (--mirror)"), "\(preview.stdout)")
        #expect(listTree(dir.sub("target")).contains("stray.txt"), "the preview wrote nothing")

        let mirrored = try backupctl(["restore", "--mirror", "--to", "target"], in: dir.path)
        #expect(mirrored.status == 0, "\(mirrored.stderr)")
        #expect(listTree(dir.sub("target")) == ["keep.txt", "sub", "sub/also.txt"], "\(listTree(dir.sub("target")))")
        #expect(readFile(dir.sub("target/keep.txt")) == Array("in the set\n".utf8))
        #expect(mirrored.stderr.contains("--mirror: removed 3 entries"), "\(mirrored.stderr)")
        #expect(try backupctl(["restore", "--mirror", "--to-database", "x"], in: dir.path).status == 2)
        #expect(try backupctl(["restore", "--mirror", "--all"], in: dir.path).status == 2, "never a mirror of / (a files source's own place)")
    }
}
