import BackupKit
import BackupSinks
import BackupSources
import Foundation
import Glibc
import Testing

/// A sink is storage other people can write to: a manifest's names (`source`, `subject`, an artifact's
/// `name`) never become restore paths unchecked, and a restore never writes outside its target.
@Suite(.serialized) struct HostileManifestTests {
    /// One field of one artifact record that a test changes in a real set's manifest, nothing else.
    struct Tampering: Sendable, CustomTestStringConvertible {
        var field: String
        var value: String
        var testDescription: String { "\(field): \(value)" }
    }

    /// Changes `field` of the artifact record of `source` in the manifest at `path`, as someone with
    /// write access to the sink would: the JSON on disk, every other byte kept.
    static func tamper(_ path: String, artifactOf source: String, field: String, to value: String) throws {
        let bytes = try #require(readFile(path))
        var json = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        var artifacts = try #require(json["artifacts"] as? [[String: Any]])
        let index = try #require(artifacts.firstIndex { $0["source"] as? String == source })
        artifacts[index][field] = value
        json["artifacts"] = artifacts
        try writeFile(path, Array(JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])), mode: 0o600)
    }

    static func manifestName(in dir: TemporaryDirectory) throws -> String {
        try #require(BackupctlTests.finalNames(dir.sub("backups")).first { $0.hasPrefix("manifest_") })
    }

    @Test(arguments: [
        Tampering(field: "source", value: "../../escape"),
        Tampering(field: "subject", value: "../../escape"),
        Tampering(field: "name", value: "../../escape/minio_pdfs_20240101_000000.tar.gz"),
    ])
    func aTamperedManifestIsRefusedAndNothingIsWrittenOutsideTheTarget(tampering: Tampering) throws {
        let dir = try BackupctlTests.workspace("hostile-\(tampering.field)")
        defer { dir.remove() }
        let run = try backupctl(["run"], in: dir.path)
        #expect(run.status == 0, "\(run.stderr)")
        let manifest = try Self.manifestName(in: dir)
        try Self.tamper(dir.sub("backups/\(manifest)"), artifactOf: "minio", field: tampering.field, to: tampering.value)

        // Two sources, so each goes into T/<source>: with `source: ../../escape` that was dir/escape.
        let target = dir.sub("restore/T")
        let restore = try backupctl(["restore", "--to", target], in: dir.path)
        #expect(restore.status == 8, "\(restore.stdout)\(restore.stderr)")
        #expect(restore.stderr.contains(manifest) && restore.stderr.contains(tampering.field) && restore.stderr.contains(tampering.value),
                "the error names the manifest and the field: \(restore.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("escape")), "nothing is written outside the target")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("restore/escape")))
        #expect(listTree(target).isEmpty, "nothing is restored from a tampered set: \(listTree(target))")

        let explicit = try backupctl(["restore", "--set", String(manifest.dropFirst("manifest_demo_".count).prefix(15)), "--to", target], in: dir.path)
        #expect(explicit.status == 8 && explicit.stderr.contains(manifest) && explicit.stderr.contains(tampering.field), "\(explicit.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("escape")))

        let list = try backupctl(["list"], in: dir.path)
        #expect(list.stdout.contains("invalid manifest") && list.stdout.contains(tampering.field) && !list.stdout.contains(" good"),
                "list shows the set as not good, with the reason: \(list.stdout)")
    }

    @Test func aTamperedSetIsKeptForInspectionAndNeverAdopted() async throws {
        let dir = try TemporaryDirectory("hostile-retention")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "a")
        let plan = SetCatalogTests.plan("app", source: "files", dir: dir)
        let earlier = Date().addingTimeInterval(-60)
        let first = await BackupRunner(plan: plan, logger: testLogger, now: { earlier }).run()
        let manifestName = "manifest_app_\(try #require(first.set)).json"
        try Self.tamper(dir.sub("backups/\(manifestName)"), artifactOf: "files", field: "source", to: "../../escape")
        #expect(await BackupRunner(plan: plan, logger: testLogger).run().status == .succeeded)
        #expect(FileManager.default.fileExists(atPath: dir.sub("backups/\(manifestName)")), "kept for inspection, not pruned by keep_last: 1")
        let catalog = try await plan.catalog(in: LocalSink(directory: dir.sub("backups")))
        let tampered = try #require(catalog.sets.first)
        #expect(tampered.problem == "invalid manifest \(manifestName): artifacts[0].source '../../escape' is not a valid name (a letter or digit, then letters, digits, '.' and '-', at most 64)",
                "\(tampered.health)")
        #expect(tampered.manifest == nil && tampered.protection != nil, "its names are never used")
        #expect(catalog.sets.count == 2 && catalog.sets.last?.isGood == true)
    }

    @Test func aSymlinkInTheTargetDoesNotLeadTheRestoreOutOfIt() throws {
        let dir = try BackupctlTests.workspace("hostile-symlink")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let target = dir.sub("restore/T"), outside = dir.sub("outside")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        #expect(symlink(outside, target + "/minio") == 0)
        let restore = try backupctl(["restore", "--to", target, "--force"], in: dir.path)
        #expect(restore.status == 8, "\(restore.stdout)\(restore.stderr)")
        #expect(restore.stderr.contains(target + "/minio") && restore.stderr.contains("outside the restore target \(target)"), "\(restore.stderr)")
        #expect(listTree(outside).isEmpty, "nothing is written through the symlink: \(listTree(outside))")
    }

    /// The last check before writing, on its own: `..`, a symlink out of the target and a dangling
    /// symlink are refused; a file's own symlink is not followed, since the file replaces it.
    @Test func theLastCheckRefusesEveryPathOutsideTheTarget() throws {
        let dir = try TemporaryDirectory("restore-path")
        defer { dir.remove() }
        let target = dir.sub("T"), outside = dir.sub("outside")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        #expect(symlink(outside, target + "/link") == 0 && symlink(dir.sub("nowhere"), target + "/dangling") == 0)
        #expect(try RestorePath.checked(target + "/new/a", inside: target) == target + "/new/a")
        #expect(try RestorePath.checked(target + "/new/../b", inside: target) == target + "/b")
        #expect(try RestorePath.checked(target + "/link", inside: target, followingLast: false) == target + "/link")
        for (path, followingLast) in [(target + "/../escape", true), (target + "/new/../../escape", true), (target + "/link", true),
                                      (target + "/link/file.sql", false), (target + "/dangling/x", true), (target + "/..", false)] {
            #expect(throws: BackupError.self, "\(path)") { try RestorePath.checked(path, inside: target, followingLast: followingLast) }
        }
    }
}
