import Synchronization

/// The sinks' catalogs as one run reads them. Each sink is listed once per run; the set the run stores
/// is added to the catalogs read before it, so the shrink check, the set timestamp, retention and the
/// stale check all work from the same reading.
final class RunCatalogs: Sendable {
    private let plan: BackupPlan
    private let catalogs = Mutex<[String: SetCatalog]>([:])

    init(plan: BackupPlan) { self.plan = plan }

    /// The sink the run takes its previous set from: the first on this host, else the first.
    var primarySink: (any Sink)? {
        plan.sinks.first { $0.capabilities.localDirectory != nil } ?? plan.sinks.first
    }

    /// The catalog of `sink`, read on first use. A read that failed is tried again when asked again
    /// (retention after storing, the stale check), as a sink that just failed may answer now.
    func catalog(of sink: any Sink) async -> Result<SetCatalog, BackupError> {
        if let known = catalogs.withLock({ $0[sink.name] }) { return .success(known) }
        do {
            let catalog = try await plan.catalog(in: sink)
            catalogs.withLock { $0[sink.name] = catalog }
            return .success(catalog)
        } catch {
            return .failure(BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)'"))
        }
    }

    /// Forgets what was read, so that the next request lists the sinks again: after `before_backup`
    /// hooks, which may mount, prepare or change a sink.
    func forget() {
        catalogs.withLock { $0.removeAll() }
    }

    /// Records that each sink in `stored` now holds the set of `manifest` with its objects (and, for an
    /// encrypted sink, its sealed manifest).
    func add(_ manifest: Manifest, stored: [String: (objects: [StoredObject], sealed: SealedManifest?)]) {
        catalogs.withLock { catalogs in
            for (name, copy) in stored {
                catalogs[name] = catalogs[name]?.adding(manifest, sealed: copy.sealed, objects: copy.objects)
            }
        }
    }
}
