import ArgumentParser
import BackupKit
import Foundation
import Logging

/// `--metrics-file`, for the commands that run backups.
struct MetricsFileOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Rewrite this Prometheus textfile-collector file after every run.", valueName: "PATH"))
    var metricsFile: String?

    func apply(to plan: inout BackupPlan) {
        if let metricsFile { plan.metricsFile = resolvePath(metricsFile, against: FileManager.default.currentDirectoryPath) }
    }
}
