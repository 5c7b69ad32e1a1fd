# boto3 against `logcache serve --s3` (run by tests/s3/boto3.rs): multipart transfers both
# ways, the paginators over 2,500 keys, ranges, conditions, copy, delete-many, a presigned URL
# fetched with curl, a wrong secret, and multipart edge cases.
import os, sys, subprocess, hashlib, boto3, botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint, key, secret, workdir = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                  aws_secret_access_key=secret, region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

try:
    s3.create_bucket(Bucket="boto")
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
src = os.path.join(workdir, "boto-src.bin")
with open(src, "wb") as f:
    f.write(os.urandom(23 * 1024 * 1024 + 12345))
cfg = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)
s3.upload_file(src, "boto", "big/obj.bin", Config=cfg, ExtraArgs={"Metadata": {"origin": "boto"}, "ContentType": "application/x-test"})
head = s3.head_object(Bucket="boto", Key="big/obj.bin")
assert head["ContentLength"] == os.path.getsize(src), head
assert head["ETag"].endswith('-3"'), head["ETag"]
assert head["Metadata"] == {"origin": "boto"}, head["Metadata"]
assert head["ContentType"] == "application/x-test", head["ContentType"]
dst = os.path.join(workdir, "boto-dst.bin")
s3.download_file("boto", "big/obj.bin", dst, Config=cfg)
assert open(src, "rb").read() == open(dst, "rb").read(), "download differs"
# Single-part objects: the ETag is the MD5.
body = b"hello boto"
put = s3.put_object(Bucket="boto", Key="small", Body=body)
assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), put
# A SHA-256 integrity checksum (aws-chunked trailer) is checked; a wrong Content-MD5 refused.
s3.put_object(Bucket="boto", Key="sha", Body=b"checked" * 1000, ChecksumAlgorithm="SHA256")
assert s3.get_object(Bucket="boto", Key="sha")["Body"].read() == b"checked" * 1000
try:
    s3.put_object(Bucket="boto", Key="bad-md5", Body=b"abc", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    raise SystemExit("a wrong Content-MD5 was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "BadDigest", e.response
got = s3.get_object(Bucket="boto", Key="small", Range="bytes=6-9")
assert got["Body"].read() == b"boto" and got["ContentRange"] == "bytes 6-9/10", got
# Conditional GETs.
etag = put["ETag"]
try:
    s3.get_object(Bucket="boto", Key="small", IfNoneMatch=etag)
    raise SystemExit("If-None-Match did not answer 304")
except botocore.exceptions.ClientError as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 304, e.response
try:
    s3.get_object(Bucket="boto", Key="small", IfMatch='"0000"')
    raise SystemExit("If-Match did not answer 412")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "PreconditionFailed", e.response
# 2,500 keys through the paginator.
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(16) as pool:
    list(pool.map(lambda i: s3.put_object(Bucket="boto", Key="many/%05d" % i, Body=b"x"), range(2500)))
keys = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="boto", Prefix="many/"):
    keys += [o["Key"] for o in page.get("Contents", [])]
assert keys == ["many/%05d" % i for i in range(2500)], len(keys)
pages = list(s3.get_paginator("list_objects").paginate(Bucket="boto", Prefix="many/", PaginationConfig={"PageSize": 700}))
assert sum(len(p.get("Contents", [])) for p in pages) == 2500 and len(pages) == 4, len(pages)
# Copy, with metadata replaced.
s3.copy_object(Bucket="boto", Key="copy", CopySource={"Bucket": "boto", "Key": "small"},
               MetadataDirective="REPLACE", Metadata={"k": "v"}, ContentType="text/x-copy")
h = s3.head_object(Bucket="boto", Key="copy")
assert h["Metadata"] == {"k": "v"} and h["ETag"] == etag and h["ContentType"] == "text/x-copy", h
# Delete many.
r = s3.delete_objects(Bucket="boto", Delete={"Objects": [{"Key": "copy"}, {"Key": "small"}]})
assert sorted(d["Key"] for d in r["Deleted"]) == ["copy", "small"], r
# A presigned URL, fetched with curl.
url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "many/00007"}, ExpiresIn=300)
out = subprocess.run(["curl", "-sf", url], capture_output=True)
assert out.returncode == 0 and out.stdout == b"x", out
tampered = url.replace("many/00007", "many/00008")
out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", tampered], capture_output=True, text=True)
assert out.stdout == "403", out.stdout
# boto3's default presigner (Signature Version 2, no signature_version configured).
v2 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                  aws_secret_access_key=secret, region_name="us-east-1")
url = v2.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "many/00009"}, ExpiresIn=300)
out = subprocess.run(["curl", "-sf", url], capture_output=True)
assert out.returncode == 0 and out.stdout == b"x", (url, out)
out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url.replace("00009", "00010")],
                     capture_output=True, text=True)
assert out.stdout == "403", out.stdout
# A wrong secret is refused.
bad = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                   aws_secret_access_key=secret + "x", region_name="us-east-1")
try:
    bad.list_objects_v2(Bucket="boto")
    raise SystemExit("a wrong secret was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "SignatureDoesNotMatch", e.response
# Multipart: abort reclaims; a part under 5 MiB but the last is refused.
up = s3.create_multipart_upload(Bucket="boto", Key="mp")
p1 = s3.upload_part(Bucket="boto", Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"a" * 1024)
p2 = s3.upload_part(Bucket="boto", Key="mp", UploadId=up["UploadId"], PartNumber=2, Body=b"b" * 1024)
assert len(s3.list_multipart_uploads(Bucket="boto").get("Uploads", [])) == 1
assert [p["PartNumber"] for p in s3.list_parts(Bucket="boto", Key="mp", UploadId=up["UploadId"])["Parts"]] == [1, 2]
try:
    s3.complete_multipart_upload(Bucket="boto", Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
    raise SystemExit("a 1 KiB first part was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "EntityTooSmall", e.response
s3.abort_multipart_upload(Bucket="boto", Key="mp", UploadId=up["UploadId"])
assert s3.list_multipart_uploads(Bucket="boto").get("Uploads", []) == []
try:
    s3.head_object(Bucket="boto", Key="mp")
    raise SystemExit("an aborted upload is visible")
except botocore.exceptions.ClientError as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
try:
    s3.list_parts(Bucket="boto", Key="mp", UploadId=up["UploadId"])
    raise SystemExit("an aborted upload still lists parts")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchUpload", e.response
print("boto3 ok")
