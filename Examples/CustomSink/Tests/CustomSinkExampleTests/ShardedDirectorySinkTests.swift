import BackupKit
import BackupKitTesting
import CustomSinkExample
import Foundation
import Testing

@Suite struct ShardedDirectorySinkTests {
    /// The same conformance suite BackupKit's own sinks run, with one call.
    @Test func conforms() async throws {
        let root = NSTemporaryDirectory() + "sharded-sink-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await SinkConformanceSuite(scratchDirectory: root + "/scratch", largeArtifactSize: 64 << 20) {
            ShardedDirectorySink(root: root + "/sink")
        }.run()
    }

    /// Its capabilities promise bounded memory; the suite checks the promise in a process of its own. An
    /// exit test runs its body in a child copy of this test process, where nothing else allocates, so
    /// the sink is made there. The child's recorded issues (not its thrown errors) reach this test.
    @Test func streamsInBoundedMemory() async {
        await #expect(processExitsWith: .success) {
            let root = NSTemporaryDirectory() + "sharded-sink-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: root) }
            do {
                try await SinkConformanceSuite(scratchDirectory: root + "/scratch") { ShardedDirectorySink(root: root + "/sink") }.checkBoundedMemory()
            } catch {
                Issue.record("\(error)")
            }
        }
    }

    @Test func itCanBeNamedInAPlanFile() throws {
        var registry = PlanRegistry()
        registry.registerShardedDirectorySink()
        registry.registerSource(type: "nothing") { definition, _ in NoSource(name: definition.name) }
        let plan = try PlanLoader(registry: registry, environment: [:]).load(yaml: """
            sources: [{ name: x, type: nothing }]
            sinks: [{ name: nas, type: sharded-directory, root: ./nas }]
            """, origin: "backup.yml", baseDirectory: "/srv")
        #expect((plan.sinks.first as? ShardedDirectorySink)?.root == "/srv/nas")
    }
}

/// A source that is never run; the plan test only needs one to exist.
struct NoSource: BackupSource {
    let name: String
    var type: String { "nothing" }
    func prepare(_ context: SourceContext) async throws -> [SourceArtifact] { [] }
    func write(_ artifact: SourceArtifact, to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport { SourceReport() }
    func restore(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreReport {
        RestoreReport(artifact: "", destination: "", entries: 0, bytes: 0)
    }
}
