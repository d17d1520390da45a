import BackupKit
import Foundation

extension S3Client {
    /// A multipart upload the server still holds open: started, never completed nor aborted.
    package struct MultipartUpload: Sendable, Hashable {
        package var key: String
        package var uploadID: String
        /// When the upload was started; nil when the server did not say.
        package var initiated: Date?
    }

    /// Every multipart upload open under `prefix`, page by page (ListMultipartUploads with key and
    /// upload-id markers).
    package func multipartUploads(prefix: String) throws -> [MultipartUpload] {
        var all: [MultipartUpload] = []
        var markers: (key: String, uploadID: String)?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.uploadID)] }
            let response = try send(Request(method: "GET", key: nil, query: query), what: "listing the open uploads of \(settings.bucket)/\(prefix)")
            let result = try S3XML.parseUploads(response.body)
            all += result.uploads
            markers = nil
            if result.isTruncated {
                guard let key = result.nextKeyMarker, !key.isEmpty else {
                    throw BackupError(.sinkFailed, "\(component): the list of open uploads is truncated but has no next key marker")
                }
                markers = (key, result.nextUploadIDMarker ?? "")
            }
        } while markers != nil
        return all
    }

    /// The uploads a run may abort: started before `now - age` (an upload without a start time is never
    /// chosen), of a key directly under the prefix whose name `isOurs` accepts.
    package func abandoned(_ uploads: [MultipartUpload], olderThan age: Double, now: Date, isOurs: (String) -> Bool) -> [MultipartUpload] {
        uploads.filter { upload in
            guard let initiated = upload.initiated, now.timeIntervalSince(initiated) >= age, upload.key.hasPrefix(settings.prefix) else { return false }
            let name = String(upload.key.dropFirst(settings.prefix.count))
            return !name.isEmpty && isOurs(name)
        }
    }

    /// Aborts the multipart uploads under the prefix that a killed or stalled run left behind: those of
    /// keys `isOurs` accepts, started at least `abandoned_upload_age` ago. Returns what was aborted;
    /// the first upload that cannot be aborted throws, after the ones before it were.
    package func abortAbandonedUploads(now: Date = Date(), isOurs: (String) -> Bool) throws -> [MultipartUpload] {
        let chosen = abandoned(try multipartUploads(prefix: settings.prefix), olderThan: settings.abandonedUploadAge, now: now, isOurs: isOurs)
        for upload in chosen {
            _ = try send(Request(method: "DELETE", key: upload.key, query: [("uploadId", upload.uploadID)]),
                         what: "aborting the abandoned upload of \(upload.key)", accept: [200, 204, 404])
        }
        return chosen
    }
}
