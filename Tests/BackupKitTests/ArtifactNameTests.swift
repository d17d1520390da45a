import BackupKit
import Testing

/// The names retention decides on: what `ArtifactName.parse` accepts is what a catalog can count as a
/// plan's file, and so what retention may delete.
@Suite struct ArtifactNameTests {
    static let set = SetTimestamp("20241130_020000")!

    @Test(arguments: [
        ("db_schedgen_20241130_020000.sql.gz", "db_schedgen", "sql.gz"),
        ("minio_schedgen-pdfs_20241130_020000.tar.gz", "minio_schedgen-pdfs", "tar.gz"),
        ("manifest_schedgen_20241130_020000.json", "manifest_schedgen", "json"),
        ("config_app_20241130_020000.tar.zst", "config_app", "tar.zst"),
        // A subject may hold underscores and dates of its own: the set's timestamp is the last one.
        ("files_my_dir_20240101_000000_20241130_020000.tar.gz", "files_my_dir_20240101_000000", "tar.gz"),
        ("db_app_20241130_020000", "db_app", ""),
    ])
    func validNamesSplitIntoPrefixTimestampAndExtension(key: String, prefix: String, fileExtension: String) throws {
        let parts = try #require(ArtifactName.parse(key))
        #expect(parts.prefix == prefix)
        #expect(parts.timestamp == Self.set)
        #expect(parts.fileExtension == fileExtension)
    }

    @Test func whatTheNamesAreBuiltFromParsesBack() throws {
        let name = ArtifactName.artifact(source: "minio", subject: "schedgen/pdfs", timestamp: Self.set, fileExtension: "tar.gz")
        #expect(name == "minio_schedgen-pdfs_20241130_020000.tar.gz", "a slash in the subject becomes -")
        let parts = try #require(ArtifactName.parse(name))
        #expect(parts.prefix == "minio_schedgen-pdfs" && parts.timestamp == Self.set && parts.fileExtension == "tar.gz")
        let manifest = ArtifactName.manifest(plan: "schedgen", timestamp: Self.set)
        #expect(manifest == "manifest_schedgen_20241130_020000.json")
        let owner = try #require(ArtifactName.manifestPlan(manifest))
        #expect(owner.plan == "schedgen" && owner.timestamp == Self.set)
    }

    @Test func manifestsNameTheirPlan() throws {
        #expect(ArtifactName.manifestPlan("manifest_schedgen_20241130_020000.json")?.plan == "schedgen")
        #expect(ArtifactName.manifestPlan("manifest_billing-eu_20241130_020000.json")?.plan == "billing-eu", "another plan's manifest names that plan")
        #expect(ArtifactName.manifestPlan("db_schedgen_20241130_020000.sql.gz") == nil, "an artifact is not a manifest")
        #expect(ArtifactName.manifestPlan("manifest_schedgen_20241130_020000.json.gz") == nil, "a manifest is .json")
        #expect(ArtifactName.manifestPlan("manifest_schedgen_20241130_020000") == nil)
        #expect(ArtifactName.manifestPlan("xmanifest_schedgen_20241130_020000.json") == nil)
    }

    @Test(arguments: [
        // Impossible dates and times.
        "db_schedgen_20241131_020000.sql.gz", "db_schedgen_20240230_020000.sql.gz", "db_schedgen_20241130_240000.sql.gz",
        "db_schedgen_20241130_026000.sql.gz", "db_schedgen_20241130_020060.sql.gz", "db_schedgen_20241301_020000.sql.gz",
        // Not exactly _YYYYMMDD_HHMMSS before the extension.
        "db_schedgen_2024113_020000.sql.gz", "db_schedgen_20241130_0200001.sql.gz", "db_schedgen_20241130-020000.sql.gz",
        "db_schedgen_20241130_020000x.sql.gz", "db_schedgen_20241130_020000_.sql.gz", "db_schedgen_20241130020000.sql.gz",
        "db_schedgen_2024-11-30_020000.sql.gz", "db_schedgen_２0241130_020000.sql.gz",
        // Nothing before the timestamp.
        "_20241130_020000.sql.gz", "20241130_020000.sql.gz", "",
        // A dot with no extension after it.
        "db_schedgen_20241130_020000.",
        // Temporary files (hidden, .tmp-) and keys no sink stores: path separators, leading dots.
        ".db_schedgen_20241130_020000.sql.gz.tmp-1x2y3z", ".manifest_schedgen_20241130_020000.json.tmp-abc",
        "2024-11/db_schedgen_20241130_020000.sql.gz", "../db_schedgen_20241130_020000.sql.gz", "db_schedgen_20241130_020000.sql.gz/x",
        // Other files a directory may hold.
        "README.txt", ".backupctl-schedgen.lock", "backup.yml",
    ])
    func nearMissesAreNotOurs(key: String) {
        #expect(ArtifactName.parse(key) == nil, "\(key)")
    }

    /// Another plan's files parse (their owner is decided by the manifests), with their own prefix.
    @Test func anotherPlansFilesKeepTheirPrefix() throws {
        #expect(ArtifactName.parse("db_billing_20241130_020000.sql.gz")?.prefix == "db_billing")
        #expect(ArtifactName.parse("db_schedgen_20241130_020000.sql.gz")?.prefix != ArtifactName.parse("db_billing_20241130_020000.sql.gz")?.prefix)
    }
}
