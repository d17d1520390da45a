@testable import BackupKit
import Foundation
import Testing

/// The blobs a run adds, kept in bounded memory: spilled to sorted runs with Bloom filters, merged when
/// there are too many, and every one still found.
struct NewBlobSetTests {
    static func hash(_ seed: Int) -> BlobHash {
        var generator = SeededGenerator(seed: UInt64(seed))
        return BlobHash(words: (generator.next(), generator.next(), generator.next(), generator.next()))
    }

    @Test func everyBlobIsFoundAfterSpillsAndMergesAndNoOtherIs() throws {
        let dir = try TemporaryDirectory("new-blobs")
        defer { dir.remove() }
        let set = NewBlobSet(staging: dir.path, memoryLimit: 50, maximumRuns: 3)
        for index in 0..<1_000 { try set.insert(Self.hash(index), pack: Int32(index % 7)) }
        #expect(set.count == 1_000)
        #expect(set.spilledRuns >= 1 && set.spilledRuns < 3, "runs were spilled and merged: \(set.spilledRuns)")
        for index in 0..<1_000 {
            #expect(try set.pack(of: Self.hash(index)) == Int32(index % 7), "blob \(index)")
        }
        for index in 1_000..<2_000 {
            #expect(try set.pack(of: Self.hash(index)) == nil)
        }
    }

    @Test func theRunFilesGoWithTheSet() throws {
        let dir = try TemporaryDirectory("new-blobs-files")
        defer { dir.remove() }
        do {
            let set = NewBlobSet(staging: dir.path, memoryLimit: 10, maximumRuns: 4)
            for index in 0..<35 { try set.insert(Self.hash(index), pack: 0) }
            #expect(!listTree(dir.path).isEmpty, "spilled runs are files in staging")
        }
        #expect(listTree(dir.path).isEmpty, "and they are removed with the set")
    }
}

/// The incremental restore drill's comparison, on a real set: a sample whose index record does not match
/// what its blob restores fails, naming the file.
struct IncrementalDrillTests {
    @Test func aSampledFileThatDiffersFromItsRecordFailsTheDrill() throws {
        let dir = try IncrementalSetTests.workspace("drill-compare")
        defer { dir.remove() }
        let manifest = try IncrementalSetTests.run(dir)
        let indexRecord = try IncrementalSetTests.index(of: manifest)
        let index = IncrementalSession.PreviousIndex(path: dir.sub("backups/" + indexRecord.name), name: indexRecord.name,
                                                     format: StreamFormat(compression: .gzip))
        var generator = SeededGenerator(seed: 3)
        let (sample, files) = try IncrementalDrill.sample(index, count: 5, using: &generator)
        #expect(sample.count == 5 && files > 5)
        let packs = Dictionary(uniqueKeysWithValues: manifest.artifacts.filter(\.isPack).map {
            ($0.name, (path: dir.sub("backups/" + $0.name), format: TarFormat(compression: .gzip) as any ArchiveFormat))
        })
        let good = try IncrementalDrill.check(sample, files: files, index: index, packs: packs, scratch: dir.sub("scratch-good"),
                                              artifact: indexRecord, isCancelled: { false })
        #expect(good.passed, "\(good.summary)")

        // The same blob, but a record that says another mode: the comparison must see it.
        var tampered = sample
        tampered[0].mode ^= 0o100
        let bad = try IncrementalDrill.check(tampered, files: files, index: index, packs: packs, scratch: dir.sub("scratch-bad"),
                                             artifact: indexRecord, isCancelled: { false })
        #expect(!bad.passed && bad.summary.contains(tampered[0].path.description), "\(bad.summary)")
    }
}
