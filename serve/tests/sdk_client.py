"""The official QingCloud Python SDK, unchanged, against `serve`.

Usage: sdk_client.py PORT JOBS_FILE

`serve` must be listening on 127.0.0.1:PORT with the keys of
serve/tests/fixtures/keys.jsonl and the jobs of JOBS_FILE. Every expected
answer is computed here from JOBS_FILE, independently of joblog. Exits 0
when every check passes, 1 (naming the check) otherwise.
"""

import json
import sys

import qingcloud.conn.auth
from qingcloud.iaas.connection import APIConnection

PORT = int(sys.argv[1])
JOBS = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]


def connect(key, secret):
    return APIConnection(key, secret, "pek3a", host="127.0.0.1", port=PORT,
                         protocol="http", retry_time=1)


def expected(owner, statuses, limit, offset=0):
    """(total_count, job ids) of app-1 for `owner` (None: everyone),
    newest first by create_time, ties by insertion, later first."""
    hits = [(job["create_time"], i, job["job_id"]) for i, job in enumerate(JOBS)
            if job["app"] == "app-1"
            and (owner is None or job["owner"] == owner)
            and (not statuses or job["status"] in statuses)]
    hits.sort(reverse=True)
    return len(hits), [job_id for _, _, job_id in hits[offset:offset + limit]]


failures = []


def check(name, got, want):
    if got != want:
        failures.append(f"{name}: got {got!r}, want {want!r}")
    print(f"{'ok  ' if got == want else 'FAIL'} {name}")


def answer(response):
    return (response.get("ret_code"), response.get("total_count"),
            [job["job_id"] for job in response.get("job_set", [])])


user = connect("QYUSERKEY", "user-secret")
admin = connect("QYADMINKEY", "admin-secret")
for verb in ["GET", "POST"]:
    body = {"app": "app-1", "status": ["pending", "working"], "limit": 5}
    got = answer(user.send_request("DescribeClusterJobs", dict(body), verb=verb))
    total, ids = expected("usr-1", ["pending", "working"], 5)
    check(f"{verb} user, two statuses", got, (0, total, ids))
    got = answer(admin.send_request("DescribeClusterJobs",
                                    {"app": "app-1", "offset": 3, "limit": 4}, verb=verb))
    total, ids = expected(None, [], 4, offset=3)
    check(f"{verb} administrator, offset", got, (0, total, ids))
    some = [JOBS[1]["job_id"], JOBS[2]["job_id"]]
    got = answer(user.send_request("DescribeClusterJobs", {"app": "app-1", "jobs": some},
                                   verb=verb))
    check(f"{verb} user, listed jobs", got,
          (0, 2, sorted(some, key=lambda i: [j["job_id"] for j in JOBS].index(i),
                        reverse=True)))
    # Another owner's job answers as a missing one.
    hidden = next(job["job_id"] for job in JOBS if job["owner"] != "usr-1")
    got = user.send_request("DescribeClusterJobs", {"app": "app-1", "jobs": [hidden]},
                            verb=verb)
    check(f"{verb} another owner's job", got.get("ret_code"), 2100)
    # Another action is a parameter error naming it.
    got = user.send_request("DescribeInstances", {}, verb=verb)
    check(f"{verb} another action", (got.get("ret_code"), "DescribeInstances" in
                                     got.get("message", "")), (1100, True))

# Authentication: a wrong secret, an unknown key, an old time_stamp.
got = connect("QYUSERKEY", "not-the-secret").send_request("DescribeClusterJobs",
                                                          {"app": "app-1"})
check("wrong secret", got.get("ret_code"), 1200)
got = connect("QYNOSUCHKEY", "user-secret").send_request("DescribeClusterJobs",
                                                         {"app": "app-1"})
check("unknown key", got.get("ret_code"), 1200)
real_ts = qingcloud.conn.auth.get_ts
qingcloud.conn.auth.get_ts = lambda *args: "2018-03-04T05:37:58Z"
got = user.send_request("DescribeClusterJobs", {"app": "app-1"})
qingcloud.conn.auth.get_ts = real_ts
check("old time_stamp", got.get("ret_code"), 1300)
# Nothing is answered before the request is authenticated: a bad limit
# with a wrong secret is 1200, not 1100.
got = connect("QYUSERKEY", "nope").send_request("DescribeClusterJobs",
                                                {"app": "app-1", "limit": "x"})
check("unauthenticated bad parameter", got.get("ret_code"), 1200)

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
print("sdk_client: every check passed")
