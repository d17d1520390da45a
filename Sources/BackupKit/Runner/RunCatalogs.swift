import Synchronization

/// The sinks' catalogs as one run reads them. Each sink is listed once per run; the set the run stores
/// is added to the catalogs read before it, so the shrink check, the set timestamp, retention and the
/// stale check all work from the same reading.
final class RunCatalogs: Sendable {
    private let plan: BackupPlan
    private let catalogs = Mutex<[String: Result<SetCatalog, BackupError>]>([:])

    init(plan: BackupPlan) { self.plan = plan }

    /// The sink the run takes its previous set from: the first on this host, else the first.
    var primarySink: (any Sink)? {
        plan.sinks.first { $0.capabilities.localDirectory != nil } ?? plan.sinks.first
    }

    /// The catalog of `sink`, read on first use; a failed read is remembered, not retried.
    func catalog(of sink: any Sink) async -> Result<SetCatalog, BackupError> {
        if let known = catalogs.withLock({ $0[sink.name] }) { return known }
        let result: Result<SetCatalog, BackupError>
        do {
            result = .success(try await plan.catalog(in: sink))
        } catch {
            result = .failure(BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)'"))
        }
        catalogs.withLock { $0[sink.name] = result }
        return result
    }

    /// Records that the sinks named `sinks` now hold the set of `manifest` with `objects`.
    func add(_ manifest: Manifest, objects: [StoredObject], to sinks: [String]) {
        catalogs.withLock { catalogs in
            for name in sinks {
                if case .success(let catalog)? = catalogs[name] {
                    catalogs[name] = .success(catalog.adding(manifest, objects: objects))
                }
            }
        }
    }
}
