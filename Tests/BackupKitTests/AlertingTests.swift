import BackupKit
import BackupNotifiers
import BackupSinks
import BackupSources
import Foundation
import Testing

/// Alerting from whole runs, through backupctl, read back from what the HTTP receiver and the mail
/// server received.
@Suite(.serialized) struct AlertingTests {
    let http: TestHTTPReceiver
    let smtp: TestSMTPServer

    init() throws {
        http = try TestHTTPReceiver.load()
        smtp = try TestSMTPServer.load()
    }

    /// A workspace whose plan alerts through a webhook (at `path`) and email (to `recipient`).
    func workspace(_ label: String, path: String, recipient: String, webhookURL: String? = nil, extra: String = "") throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory(label)
        try writeFile(dir.sub("data/readme.txt"), "hello\n")
        try writeFile(dir.sub("smtp-password"), smtp.password + "\n", mode: 0o600)
        try writeFile(dir.sub("backup.yml"), """
        name: alerts
        sources:
          - { name: files, type: directory, path: ./data }
        sinks:
          - { name: local, type: local, path: ./backups }
        notify:
          - name: hook
            type: webhook
            url: \(webhookURL ?? http.url + path)
            secret: \(NotifierTests.webhookSecret)
            max_attempts: 2
          - name: mail
            type: smtp
            url: smtp://\(smtp.host):\(smtp.port)
            username: \(smtp.user)
            password_file: ./smtp-password
            ca_file: \(smtp.caFile)
            from: backups@example.com
            to: [\(recipient)]
        \(extra)
        """)
        return dir
    }

    /// Waits until the receivers hold `webhooks` requests under `path` and `mails` messages to
    /// `recipient`. Both save a delivery before they answer it, so this returns at once unless the
    /// machine is slow; the exact counts are asserted after.
    func waitForDeliveries(path: String, webhooks: Int, recipient: String, mails: Int) {
        waitUntil { http.requests(pathPrefix: path).count >= webhooks && smtp.messages(to: recipient).count >= mails }
    }

    @Test func aFailedRunAlertsExactlyOncePerNotifier() throws {
        let path = TestHTTPReceiver.uniquePath("failed-run"), recipient = TestSMTPServer.uniqueRecipient("failed-run")
        let dir = try workspace("alert-failed", path: path, recipient: recipient)
        defer { dir.remove() }
        try FileManager.default.removeItem(atPath: dir.sub("data"))
        let result = try backupctl(["run"], in: dir.path)
        #expect(result.status == 1)
        waitForDeliveries(path: path, webhooks: 1, recipient: recipient, mails: 1)
        let requests = http.requests(pathPrefix: path)
        #expect(requests.count == 1, "one webhook alert")
        let first = try #require(requests.first)
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(first.body)) as? [String: Any])
        #expect(payload["event"] as? String == "failure" && payload["plan"] as? String == "alerts")
        #expect((payload["summary"] as? String)?.contains("FAILED") == true)
        #expect((payload["error"] as? [String: Any])?["message"] as? String != nil)
        let mails = smtp.messages(to: recipient)
        #expect(mails.count == 1, "one email")
        #expect(mails.first?.headers["subject"]?.contains("alerts: backup FAILED") == true)
    }

    @Test func whenOneNotifierIsDownTheOtherStillAlertsAndTheOutcomeIsUnchanged() throws {
        let path = TestHTTPReceiver.uniquePath("down"), recipient = TestSMTPServer.uniqueRecipient("down")
        let dir = try workspace("alert-down", path: path, recipient: recipient, webhookURL: http.url + "/status/503")
        defer { dir.remove() }
        try FileManager.default.removeItem(atPath: dir.sub("data"))
        let result = try backupctl(["run", "--json"], in: dir.path)
        #expect(result.status == 1, "the exit code is the backup's, not the notifier's")
        waitForDeliveries(path: path, webhooks: 0, recipient: recipient, mails: 1)
        #expect(smtp.messages(to: recipient).count == 1, "the mail still went out")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let notifications = report?["notifications"] as? [[String: Any]] ?? []
        #expect(notifications.contains { $0["notifier"] as? String == "hook" && ($0["error"] as? String)?.contains("503") == true }, "\(notifications)")
        #expect(notifications.contains { $0["notifier"] as? String == "mail" && $0["error"] == nil })

        // A successful run with a broken notifier still exits 0.
        try writeFile(dir.sub("data/readme.txt"), "hello\n")
        try writeFile(dir.sub("backup.yml"), String(decoding: readFile(dir.sub("backup.yml"))!, as: UTF8.self) + "    events: [succeeded]\n")
        #expect(try backupctl(["run"], in: dir.path).status == 0)
    }

    @Test func aBrokenPlanFileStillAlerts() throws {
        let path = TestHTTPReceiver.uniquePath("broken-plan"), recipient = TestSMTPServer.uniqueRecipient("broken-plan")
        let dir = try workspace("alert-broken", path: path, recipient: recipient, extra: "retention: { keep_daily: 7")
        defer { dir.remove() }
        let result = try backupctl(["run"], in: dir.path)
        #expect(result.status == 2)
        waitForDeliveries(path: path, webhooks: 1, recipient: recipient, mails: 1)
        let requests = http.requests(pathPrefix: path)
        #expect(requests.count == 1, "the notify section before the syntax error was used")
        #expect(requests.first?.text.contains("the plan cannot be loaded") == true && requests.first?.text.contains("YAML syntax error") == true)
        #expect(smtp.messages(to: recipient).count == 1)
    }

    @Test func aRefusedLockAlerts() throws {
        let path = TestHTTPReceiver.uniquePath("lock"), recipient = TestSMTPServer.uniqueRecipient("lock")
        let dir = try workspace("alert-lock", path: path, recipient: recipient)
        defer { dir.remove() }
        let lock = try RunLock.acquire(path: dir.sub("backups/.backupctl-alerts.lock"), plan: "alerts")
        defer { lock.release() }
        #expect(try backupctl(["run"], in: dir.path).status == 5)
        waitForDeliveries(path: path, webhooks: 1, recipient: recipient, mails: 0)
        let requests = http.requests(pathPrefix: path)
        #expect(requests.count == 1 && requests.first?.text.contains("another run of plan") == true)
    }

    @Test func notifyTestReportsEachNotifier() throws {
        let path = TestHTTPReceiver.uniquePath("notify-test"), recipient = TestSMTPServer.uniqueRecipient("notify-test")
        let dir = try workspace("alert-notify", path: path, recipient: recipient)
        defer { dir.remove() }
        let result = try backupctl(["notify", "test"], in: dir.path)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("hook: delivered") && result.stdout.contains("mail: delivered"))
        waitForDeliveries(path: path, webhooks: 1, recipient: recipient, mails: 1)
        #expect(http.requests(pathPrefix: path).first?.headers["x-backupkit-event"] == "test")
        #expect(smtp.messages(to: recipient).first?.headers["subject"]?.contains("test alert") == true)

        let broken = try workspace("alert-notify-broken", path: path, recipient: recipient, webhookURL: "http://127.0.0.1:1/nothing")
        defer { broken.remove() }
        let failed = try backupctl(["notify", "test"], in: broken.path)
        #expect(failed.status == 1 && failed.stdout.contains("hook: FAILED") && failed.stdout.contains("mail: delivered"), "\(failed.stdout)")
        #expect(!failed.stdout.contains(smtp.password) && !failed.stderr.contains(smtp.password))
    }

    @Test func theSeedVariablesAlertWithoutAPlanFile() throws {
        let path = TestHTTPReceiver.uniquePath("env"), recipient = TestSMTPServer.uniqueRecipient("env")
        let dir = try TemporaryDirectory("alert-env")
        defer { dir.remove() }
        let result = try backupctl(["run"], in: dir.path, environment: [
            "BACKUP_SOURCE_DIRS": dir.sub("missing"), "BACKUP_ALERT_WEBHOOK_URL": http.url + path,
            "BACKUP_ALERT_EMAIL": recipient, "BACKUP_SMTP_URL": "smtp://\(smtp.host):\(smtp.port)", "BACKUP_SMTP_USER": smtp.user,
            "BACKUP_SMTP_PASSWORD": smtp.password, "BACKUP_SMTP_CA_FILE": smtp.caFile, "BACKUP_SMTP_FROM": "backups@example.com",
        ])
        #expect(result.status == 1)
        waitForDeliveries(path: path, webhooks: 1, recipient: recipient, mails: 1)
        #expect(http.requests(pathPrefix: path).count == 1)
        #expect(smtp.messages(to: recipient).count == 1)
    }

    @Test func staleBackupsRaiseAStaleAlert() async throws {
        let dir = try TemporaryDirectory("alert-stale")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "a")
        let recorder = RecordingNotifier()
        var plan = BackupPlan(name: "stale", sources: [BackupSources.DirectorySource(name: "files", configuration: .init(path: dir.sub("data")))],
                              sinks: [BackupSinks.LocalSink(directory: dir.sub("backups"))],
                              notifiers: [FilteredNotifier(recorder, events: AlertEvent.defaultSelection)])
        plan.staleAfter = PlanDuration(seconds: 26 * 3600)
        #expect(await BackupRunner(plan: plan, logger: testLogger).run().status == .succeeded)
        try FileManager.default.removeItem(atPath: dir.sub("data"))
        let later = Date().addingTimeInterval(3 * 86400)
        let report = await BackupRunner(plan: plan, logger: testLogger, now: { later }).run()
        #expect(report.status == .failed && report.stale != nil)
        #expect(recorder.alerts.map(\.event) == [.failure, .stale])
        #expect(recorder.alerts.last?.summary.contains("STALE") == true)
    }

    /// Every payload and message the receivers captured in this test run, searched for every secret the
    /// tests use.
    @Test func noSecretInAnyCapturedPayload() throws {
        let servers = try TestServers.load()
        let secrets = [smtp.password, NotifierTests.webhookSecret, servers.values["BACKUPKIT_PG_PASSWORD"], servers.values["BACKUPKIT_S3_SECRET_KEY"]]
            .compactMap { $0 }.filter { $0.count >= 8 }
        let captured = http.allBodies() + smtp.allMessages()
        #expect(!captured.isEmpty)
        for secret in secrets {
            #expect(!captured.contains { $0.contains(secret) }, "a captured payload contains a secret")
        }
    }
}
