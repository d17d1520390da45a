import ArgumentParser
import BackupKit
import Foundation

/// A systemd service and timer for a plan: the timer's OnCalendar follows the cron expression in the
/// plan's time zone, with its jitter as RandomizedDelaySec and Persistent=true so a missed run (the host
/// was off) runs at the next boot.
struct SystemdUnits {
    let files: [(path: String, contents: String)]

    /// What the service runs as and where it finds its settings.
    struct ServiceSettings {
        /// The `User=` (and, through it, the group) the run has.
        var user = "backup"
        /// `EnvironmentFile=`, for a plan built from environment variables.
        var environmentFile: String?
        /// `WorkingDirectory=`, against which an environment plan's relative paths resolve.
        var workingDirectory: String?
    }

    init(plan: BackupPlan, unit: String, command: [String], settings: ServiceSettings = ServiceSettings()) {
        let schedule = plan.resolvedSchedule
        let calendars = SystemdCalendar.onCalendar(for: schedule.expression, zoneName: schedule.timeZoneName)
        var service = """
        # Written by `backupctl install systemd` for plan '\(plan.name)'.
        [Unit]
        Description=BackupKit backup of plan \(plan.name)
        Wants=network-online.target
        After=network-online.target

        [Service]
        Type=oneshot
        ExecStart=\(command.map(SystemdUnits.quote).joined(separator: " "))

        """
        if let environmentFile = settings.environmentFile { service += "EnvironmentFile=\(environmentFile)\n" }
        if let workingDirectory = settings.workingDirectory { service += "WorkingDirectory=\(SystemdUnits.quote(workingDirectory))\n" }
        service += """
        Nice=10
        IOSchedulingClass=best-effort
        IOSchedulingPriority=7
        # On stop, SIGTERM goes to backupctl alone (KillMode=mixed): it cancels its sources and uploads,
        # runs the after_backup hooks, alerts and records the state, then exits 16. Whatever is left
        # after TimeoutStopSec is killed; the lock and the staging clean-up handle that too.
        KillMode=mixed
        TimeoutStopSec=\(SystemdUnits.stopTimeoutMinutes(plan))min

        """
        service += SystemdUnits.hardening(plan: plan, user: settings.user)
        var timer = """
        # Written by `backupctl install systemd` for plan '\(plan.name)': schedule "\(schedule.expression)" in \(schedule.timeZoneName).
        [Unit]
        Description=Schedule of the BackupKit backup of plan \(plan.name)

        [Timer]

        """
        for calendar in calendars { timer += "OnCalendar=\(calendar)\n" }
        let gapRuns = SystemdCalendar.gapRuns(for: schedule.expression, timeZone: schedule.timeZone, from: Date(), years: 10)
        if !gapRuns.isEmpty {
            timer += "# On days clocks go forward, some scheduled times do not exist in \(schedule.timeZoneName); systemd would skip them,\n"
            timer += "# backupctl runs them shifted by the gap. These entries (the next 10 years) keep that day's run:\n"
            for run in gapRuns { timer += "OnCalendar=\(SystemdCalendar.utcStamp(run)) UTC\n" }
        }
        if let jitter = schedule.jitter, jitter.seconds > 0 { timer += "RandomizedDelaySec=\(Int(jitter.seconds))\n" }
        timer += "Persistent=true\nUnit=\(unit).service\n\n[Install]\nWantedBy=timers.target\n"
        files = [("/etc/systemd/system/\(unit).service", service), ("/etc/systemd/system/\(unit).timer", timer)]
    }

    /// The sandbox: the whole file system read-only except the directories the run writes, no
    /// privileges, no devices, no kernel knobs. What stays open is what a run needs: reading the
    /// sources anywhere, TCP and unix sockets (PostgreSQL, S3 over HTTPS, SFTP, SMTP, webhooks) and
    /// starting pg_dump and the hooks. A system call outside the filter fails with EPERM instead of
    /// killing the process, so a hook's tool that probes one (Go raises RLIMIT_NOFILE) still runs.
    static func hardening(plan: BackupPlan, user: String) -> String {
        var text = """
        # Sandbox (`systemd-analyze security` rates it): sources are read anywhere, by a user that can
        # read them; only the sinks', staging and state directories are writable.
        User=\(user)
        UMask=0077
        ProtectSystem=strict

        """
        for path in writablePaths(plan) { text += "ReadWritePaths=\(quote(path))\n" }
        text += """
        ProtectHome=read-only
        PrivateTmp=yes
        PrivateDevices=yes
        NoNewPrivileges=yes

        """
        // root keeps only the right to read every file; any other user has no capabilities at all.
        text += user == "root" || user == "0" ? "CapabilityBoundingSet=CAP_DAC_READ_SEARCH\n" : "CapabilityBoundingSet=\n"
        text += """
        AmbientCapabilities=
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectKernelLogs=yes
        ProtectControlGroups=yes
        ProtectClock=yes
        ProtectHostname=yes
        ProtectProc=invisible
        RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
        RestrictNamespaces=yes
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        LockPersonality=yes
        RemoveIPC=yes
        SystemCallArchitectures=native
        SystemCallFilter=@system-service
        SystemCallFilter=~@privileged @resources
        SystemCallErrorNumber=EPERM

        """
        return text
    }

    /// The directories a run writes: every local sink's, the staging and the state directory (once
    /// each, and not one inside another). Those under /tmp are left out: PrivateTmp= gives the
    /// service a writable /tmp of its own, where they do not exist yet when the sandbox is built.
    static func writablePaths(_ plan: BackupPlan) -> [String] {
        let candidates = plan.sinks.compactMap(\.capabilities.localDirectory) + [plan.resolvedStagingDirectory, plan.resolvedStateDirectory]
        var paths: [String] = []
        for path in candidates.map({ $0.count > 1 ? $0.trimmingSuffix("/") : $0 }) where !isPrivateTemporary(path) {
            if paths.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) { continue }
            paths.removeAll { $0.hasPrefix(path + "/") }
            paths.append(path)
        }
        return paths
    }

    /// Whether `path` is inside /tmp or /var/tmp, which PrivateTmp= replaces for the service (and
    /// empties after each run).
    static func isPrivateTemporary(_ path: String) -> Bool {
        ["/tmp", "/var/tmp"].contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    static func quote(_ argument: String) -> String {
        argument.contains(where: { $0 == " " || $0 == "\"" || $0 == "\\" }) ? "\"\(argument.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"" : argument
    }

    /// Long enough for a stopped run to finish gracefully: every after_backup hook at its timeout, and
    /// five minutes for cancelling, alerting and recording the state.
    static func stopTimeoutMinutes(_ plan: BackupPlan) -> Int {
        Int((Double(plan.hooks.afterBackup.count) * plan.hooks.timeout.seconds / 60).rounded(.up)) + 5
    }
}
