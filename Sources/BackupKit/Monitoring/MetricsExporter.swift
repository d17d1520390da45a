import Foundation
import Prometheus

/// The plan's health in Prometheus' exposition format, built with swift-prometheus from the run state:
/// written as a textfile-collector file after every run (`--metrics-file`) and served by
/// `backupctl schedule --metrics-listen`.
///
/// | metric | labels | meaning |
/// | --- | --- | --- |
/// | `backupkit_last_run_timestamp_seconds` | plan | when the last run finished |
/// | `backupkit_last_success_timestamp_seconds` | plan | when the last run that stored a set finished |
/// | `backupkit_last_run_duration_seconds` | plan | how long the last run took |
/// | `backupkit_last_run_success` | plan | 1 when the last run stored a set (even degraded), else 0 |
/// | `backupkit_last_run_status` | plan, status | 1 for the last run's status (`succeeded`, `degraded`, `failed`), 0 for the others |
/// | `backupkit_artifact_size_bytes` | plan, source, subject | each artifact's size in the last good set |
/// | `backupkit_sink_up` | plan, sink | 1 when the sink stored the last run's set |
/// | `backupkit_verification_passed` | plan | 1 when every artifact of the last run passed verification |
/// | `backupkit_restore_drill_passed` | plan | 1 or 0 for the last run's restore drills (absent when none ran) |
/// | `backupkit_wal_last_archived_age_seconds` | plan, source | how old the newest archived WAL segment is (when the metrics were written) |
/// | `backupkit_wal_last_archived_timestamp_seconds` | plan, source | when it was written |
/// | `backupkit_wal_spool_bytes` | plan, source | WAL waiting in the spool for the sinks |
/// | `backupkit_pitr_window_start_timestamp_seconds` | plan, source | the earliest moment a restore can reach |
/// | `backupkit_pitr_window_end_timestamp_seconds` | plan, source | the latest moment a restore can reach |
package enum MetricsExporter {
    public static func exposition(for state: RunState, now: Date = Date()) -> String {
        let registry = PrometheusCollectorRegistry()
        let plan = [("plan", state.plan)]
        if let last = state.lastRun {
            gauge(registry, "last_run_timestamp_seconds", labels: plan, help: "When the last run finished")
                .set(last.finishedAt.timeIntervalSince1970.rounded(.down))
            gauge(registry, "last_run_duration_seconds", labels: plan, help: "How long the last run took")
                .set(last.durationSeconds)
            gauge(registry, "last_run_success", labels: plan, help: "1 when the last run stored a set")
                .set(last.status == .failed ? 0.0 : 1.0)
            for status in [RunReport.Status.succeeded, .degraded, .failed] {
                gauge(registry, "last_run_status", labels: plan + [("status", status.rawValue)], help: "The last run's status")
                    .set(last.status == status ? 1.0 : 0.0)
            }
            gauge(registry, "verification_passed", labels: plan, help: "1 when every artifact of the last run passed verification")
                .set(last.verified ? 1.0 : 0.0)
            if let drills = last.restoreTestPassed {
                gauge(registry, "restore_drill_passed", labels: plan, help: "1 when the last run's restore drills passed")
                    .set(drills ? 1.0 : 0.0)
            }
        }
        if let success = state.lastSuccess {
            gauge(registry, "last_success_timestamp_seconds", labels: plan, help: "When the last successful run finished")
                .set(success.finishedAt.timeIntervalSince1970.rounded(.down))
            for artifact in success.artifacts {
                gauge(registry, "artifact_size_bytes", labels: plan + [("source", artifact.source), ("subject", artifact.subject)],
                                   help: "Each artifact's size in the last good set").set(Double(artifact.size))
            }
        }
        for (source, wal) in (state.walArchives ?? [:]).sorted(by: { $0.key < $1.key }) {
            let labels = plan + [("source", source)]
            if let archived = wal.lastArchivedAt {
                gauge(registry, "wal_last_archived_age_seconds", labels: labels, help: "How old the newest archived WAL segment is")
                    .set(max(0, now.timeIntervalSince(archived)).rounded(.down))
                gauge(registry, "wal_last_archived_timestamp_seconds", labels: labels, help: "When the newest archived WAL segment was written")
                    .set(archived.timeIntervalSince1970.rounded(.down))
            }
            gauge(registry, "wal_spool_bytes", labels: labels, help: "WAL waiting in the spool for the sinks").set(Double(wal.spoolBytes))
            if let start = wal.windowStart, let end = wal.windowEnd {
                gauge(registry, "pitr_window_start_timestamp_seconds", labels: labels, help: "The earliest moment a point-in-time restore can reach")
                    .set(start.timeIntervalSince1970.rounded(.down))
                gauge(registry, "pitr_window_end_timestamp_seconds", labels: labels, help: "The latest moment a point-in-time restore can reach")
                    .set(end.timeIntervalSince1970.rounded(.down))
            }
        }
        for (name, sink) in state.sinks.sorted(by: { $0.key < $1.key }) {
            gauge(registry, "sink_up", labels: plan + [("sink", name)], help: "1 when the sink stored the last run's set")
                .set(sink.up ? 1.0 : 0.0)
        }
        return registry.emitToString()
    }

    /// A gauge named `backupkit_<name>`; a trailing `_seconds` or `_bytes` becomes the unit.
    private static func gauge(_ registry: PrometheusCollectorRegistry, _ name: String, labels: [(String, String)], help: String) -> Gauge {
        var metric = name
        var unit = ""
        for suffix in ["_seconds", "_bytes"] where name.hasSuffix(suffix) {
            metric = String(name.dropLast(suffix.count))
            unit = String(suffix.dropFirst())
        }
        return registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "backupkit", metricName: metric, unitName: unit, helpText: help), labels: labels)
    }

    /// Writes the exposition to `path` atomically (mode 0644, for the node exporter to read).
    public static func writeFile(_ path: String, state: RunState) throws {
        try makeDirectory(splitPath(path).directory, mode: nil, purpose: "the directory of the metrics file")
        try AtomicFileWriter.write(Array(exposition(for: state).utf8), to: path, mode: 0o644)
    }
}
