import BackupKit
import Foundation

/// The few S3 XML documents BackupKit reads: errors, ListObjectsV2, CreateMultipartUpload,
/// CompleteMultipartUpload and ListMultipartUploads.
enum S3XML {
    /// A flat walk over an XML document: each element's path (`ListBucketResult/Contents/Key`) and text.
    static func walk(_ bytes: [UInt8], onStart: (String) -> Void = { _ in }, onElement: (String, String) -> Void) -> Bool {
        XMLWalker.walk(bytes, onStart: onStart, onElement: onElement)
    }

    static func parseError(_ bytes: [UInt8]) -> (code: String?, message: String?) {
        var code: String?, message: String?
        _ = walk(bytes) { path, text in
            if path.hasSuffix("Error/Code") { code = text }
            if path.hasSuffix("Error/Message") { message = text }
        }
        return (code, message)
    }

    struct ListResult {
        var objects: [S3Client.ObjectInfo] = []
        /// With a delimiter: the common prefixes (`tenant-7/`) that stand for what lies below them.
        var prefixes: [String] = []
        var isTruncated = false
        var nextToken: String?
    }

    static func parseList(_ bytes: [UInt8]) throws -> ListResult {
        var result = ListResult()
        var current = S3Client.ObjectInfo(key: "", size: 0)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let ok = walk(bytes, onStart: { path in
            if path == "ListBucketResult/Contents" { current = S3Client.ObjectInfo(key: "", size: 0) }
        }) { path, text in
            switch path {
            case "ListBucketResult/Contents/Key": current.key = text
            case "ListBucketResult/Contents/Size": current.size = Int64(text) ?? 0
            case "ListBucketResult/Contents/ETag": current.etag = S3Client.unquote(text)
            case "ListBucketResult/Contents/LastModified":
                current.lastModified = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
            case "ListBucketResult/Contents": result.objects.append(current)
            case "ListBucketResult/CommonPrefixes/Prefix": result.prefixes.append(text)
            case "ListBucketResult/IsTruncated": result.isTruncated = text == "true"
            case "ListBucketResult/NextContinuationToken": result.nextToken = text
            default: break
            }
        }
        guard ok else { throw BackupError(.sinkFailed, "the bucket listing is not valid XML") }
        return result
    }

    static func value(_ bytes: [UInt8], at wanted: String) -> String? {
        var found: String?
        _ = walk(bytes) { path, text in if path == wanted { found = text } }
        return found
    }

    struct UploadsResult {
        var uploads: [S3Client.MultipartUpload] = []
        var isTruncated = false
        var nextKeyMarker: String?
        var nextUploadIDMarker: String?
    }

    /// ListMultipartUploads: each open upload's key, id and start, and where the next page begins.
    static func parseUploads(_ bytes: [UInt8]) throws -> UploadsResult {
        var result = UploadsResult()
        var current = S3Client.MultipartUpload(key: "", uploadID: "", initiated: nil)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let ok = walk(bytes, onStart: { path in
            if path == "ListMultipartUploadsResult/Upload" { current = S3Client.MultipartUpload(key: "", uploadID: "", initiated: nil) }
        }) { path, text in
            switch path {
            case "ListMultipartUploadsResult/Upload/Key": current.key = text
            case "ListMultipartUploadsResult/Upload/UploadId": current.uploadID = text
            case "ListMultipartUploadsResult/Upload/Initiated":
                current.initiated = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
            case "ListMultipartUploadsResult/Upload": result.uploads.append(current)
            case "ListMultipartUploadsResult/IsTruncated": result.isTruncated = text == "true"
            case "ListMultipartUploadsResult/NextKeyMarker": result.nextKeyMarker = text
            case "ListMultipartUploadsResult/NextUploadIdMarker": result.nextUploadIDMarker = text
            default: break
            }
        }
        guard ok else { throw BackupError(.sinkFailed, "the list of multipart uploads is not valid XML") }
        return result
    }
}
