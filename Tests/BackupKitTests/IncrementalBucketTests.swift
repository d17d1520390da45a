import BackupKit
import BackupSinks
@testable import BackupSources
import BackupTransport
import Foundation
import Testing

/// `mode: incremental` on an `s3-bucket` source, against SeaweedFS: unchanged objects are not
/// downloaded, repeated content is stored once, and every set restores into a bucket with its metadata.
struct IncrementalBucketTests {
    let s3: TestS3

    init() throws { s3 = try TestS3.load() }

    static let describe = """
    def describe(bucket):
        out = []
        for o in sorted(s3.list_objects_v2(Bucket=bucket).get('Contents', []), key=lambda o: o['Key']):
            h = s3.head_object(Bucket=bucket, Key=o['Key'])
            body = s3.get_object(Bucket=bucket, Key=o['Key'])['Body'].read()
            out.append([o['Key'], o['Size'], hashlib.sha256(body).hexdigest(), h.get('ContentType'), h.get('Metadata')])
        return out
    """

    static func detail(_ report: RunReport, _ key: String) -> Int64? {
        guard case .integer(let value)? = report.artifacts.first(where: \.isIncrementalIndex)?.details[key] else { return nil }
        return value
    }

    @Test func onlyChangedObjectsAreReadAndEverySetRestoresWithItsMetadata() async throws {
        let bucket = try s3.makeBucket("inc")
        _ = try s3.python("""
        import os
        objects = {
            'a/x.pdf': (b'%PDF-1.7 ' + os.urandom(200000), 'application/pdf', {'customer': 'acme'}),
            'a-b/y.pdf': (b'%PDF-1.7 ' + os.urandom(3 * 1024 * 1024), 'application/pdf', {'customer': 'globex'}),
            'a.txt': (b'plain', 'text/plain', {}),
            'notes/příliš.txt': ('kůň'.encode(), 'text/plain; charset=utf-8', {'lang': 'cs'}),
            'empty.bin': (b'', 'application/octet-stream', {}),
        }
        for key, (body, content_type, metadata) in objects.items():
            s3.put_object(Bucket='\(bucket)', Key=key, Body=body, ContentType=content_type, Metadata=metadata)
        s3.put_object(Bucket='\(bucket)', Key='archive/', Body=b'')
        """)
        let dir = try TemporaryDirectory("inc-bucket")
        defer { dir.remove() }
        let plan = BackupPlan(name: "minio", sources: [S3BucketSource(name: "minio", settings: s3.settings(bucket: bucket), environment: [:], mode: .incremental)],
                              sinks: [LocalSink(directory: dir.sub("backups"))], retention: RetentionPolicy(keepLast: 10))
        let first = await BackupRunner(plan: plan, logger: testLogger).run(.init(prune: false))
        #expect(first.status == .succeeded, "\(String(describing: first.error?.message))")
        #expect(Self.detail(first, "read_files") == 5)
        #expect(first.artifacts.contains { $0.isPack })

        let unchanged = await BackupRunner(plan: plan, logger: testLogger).run(.init(prune: false))
        #expect(unchanged.status == .succeeded, "\(String(describing: unchanged.error))")
        #expect(Self.detail(unchanged, "read_files") == 0, "nothing changed: no object is downloaded")
        #expect(Self.detail(unchanged, "new_packs") == 0)

        // One changed, one added, one removed, and one copy of existing content under a new key.
        _ = try s3.python("""
        s3.put_object(Bucket='\(bucket)', Key='a.txt', Body=b'plain, changed', ContentType='text/plain')
        s3.put_object(Bucket='\(bucket)', Key='new/z.txt', Body=b'brand new', ContentType='text/plain')
        s3.delete_object(Bucket='\(bucket)', Key='notes/příliš.txt')
        s3.copy_object(Bucket='\(bucket)', Key='copies/x.pdf', CopySource={'Bucket': '\(bucket)', 'Key': 'a/x.pdf'})
        """)
        let third = await BackupRunner(plan: plan, logger: testLogger).run(.init(prune: false))
        #expect(third.status == .succeeded, "\(String(describing: third.error))")
        #expect(Self.detail(third, "read_files") == 3)
        #expect(Self.detail(third, "new_blobs") == 2, "the copy's content is stored already")

        let target = "bk-increstored-\(UUID().uuidString.prefix(8).lowercased())"
        let restored = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .bucket(target)))
        #expect(restored.first?.entries == 7)
        let original = try s3.python(Self.describe + "\nprint(json.dumps(describe('\(bucket)')))")
        let copy = try s3.python(Self.describe + "\nprint(json.dumps(describe('\(target)')))")
        #expect(original == copy, "keys, sizes, contents, content types and metadata match")
        #expect(original.contains("\"customer\": \"acme\"") && original.contains("copies/x.pdf"))

        // The first set, as it was, into a directory.
        var options = Restorer.Options(destination: .directory(dir.sub("first")))
        options.timestamp = first.set
        _ = try await Restorer(plan: plan, logger: testLogger).restore(options)
        #expect(readFile(dir.sub("first/notes/příliš.txt")) == Array("kůň".utf8))
        #expect(readFile(dir.sub("first/a.txt")) == Array("plain".utf8))
        #expect(!FileManager.default.fileExists(atPath: dir.sub("first/new/z.txt")))
    }

    /// SeaweedFS lists directory by directory, not in byte order: the listing is sorted here, in runs
    /// merged from disk when it is long.
    @Test func theListingComesInByteOrderThroughSortedRuns() throws {
        let bucket = try s3.makeBucket("order")
        let keys = ["a/x", "a-b/y", "a.txt", "a/b/c", "b", "a0", "A", "a/x-y", "a/x/z", "z/z", "ä", "a b"]
        _ = try s3.python("for key in [\(keys.map { "'\($0)'" }.joined(separator: ", "))]: s3.put_object(Bucket='\(bucket)', Key=key, Body=key.encode())")
        let dir = try TemporaryDirectory("sorted-listing")
        defer { dir.remove() }
        let settings = s3.settings(bucket: bucket)
        var seen: [String] = []
        try SortedObjectListing(makeClient: { try S3Client(settings: settings, environment: [:], component: "test") }, prefix: "", staging: dir.path, runLength: 5, concurrency: 3).forEach(isCancelled: { false }) { seen.append($0.key) }
        #expect(seen == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(BackupctlTests.finalNames(dir.path).isEmpty, "the runs are removed")
    }
}
