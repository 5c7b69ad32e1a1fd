//! `logcache serve --memcached`: the same session of raw protocol lines sent to a real
//! memcached and to a logcache node must be answered the same, line for line (CAS values
//! aside: they are numbered differently); and a node SIGKILLed while a client streams `set`s
//! keeps every item it answered `STORED` for, with its bytes and flags.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::mc_node::{Node, Session, start_node, start_node_at};
use common::memcached::Memcached;

/// Every command of the text protocol, with edge cases and bad input of each kind.
fn script() -> Vec<Vec<u8>> {
    let mut s: Vec<Vec<u8>> = [
        &b"set a 5 0 3\r\nabc\r\n"[..],
        b"get a missing\r\n",
        b"gets a\r\n",
        b"append a 0 0 2\r\nde\r\n",
        b"prepend a 0 0 2\r\nxy\r\n",
        b"get a\r\n",
        b"append missing 0 0 1\r\nx\r\n",
        b"add a 0 0 1\r\nx\r\n",
        b"add fresh 7 0 1\r\nx\r\n",
        b"replace fresh 8 0 2\r\nyy\r\n",
        b"replace missing 0 0 1\r\nx\r\n",
        b"get fresh\r\n",
        // cas: the right value stores, the same one again is stale, an absent key is not found
        b"gets fresh\r\n",
        b"cas fresh 0 0 1 {CAS}\r\nz\r\n",
        b"cas fresh 0 0 1 {CAS}\r\nw\r\n",
        b"cas missing 0 0 1 1\r\nx\r\n",
        b"get fresh\r\n",
        // counters: wrapping, the floor at 0, padding, non-numeric, bad deltas
        b"set n 0 0 2\r\n10\r\n",
        b"decr n 1\r\n",
        b"get n\r\n",
        b"incr n 18446744073709551615\r\n",
        b"decr n 100\r\n",
        b"set big 0 0 20\r\n18446744073709551615\r\n",
        b"incr big 1\r\n",
        b"get big\r\n",
        b"incr a 1\r\n",
        b"incr n x\r\n",
        b"incr n -1\r\n",
        b"incr missing 1\r\n",
        b"incr n\r\n",
        // touch, gat, expiry: negative and absolute past times
        b"touch a 100\r\n",
        b"touch missing 100\r\n",
        b"gat 100 a fresh missing\r\n",
        b"gats 0 a\r\n",
        b"set e 0 -1 1\r\nx\r\n",
        b"get e\r\n",
        b"set p 0 1000000000 1\r\nx\r\n",
        b"get p\r\n",
        b"set t 0 0 1\r\nx\r\n",
        b"touch t -1\r\n",
        b"get t\r\n",
        // delete
        b"delete a\r\n",
        b"delete a\r\n",
        b"delete fresh 0\r\n",
        b"delete n 5\r\n",
        b"delete\r\n",
        // noreply, empty values, 250-byte keys, flags
        b"set q 0 0 1 noreply\r\nx\r\n",
        b"get q\r\n",
        b"delete q noreply\r\n",
        b"incr n 1 noreply\r\n",
        b"set empty 0 0 0\r\n\r\n",
        b"get empty\r\n",
        b"set f 4294967296 0 1\r\nx\r\n",
        b"get f\r\n",
        b"set f 18446744073709551615 0 1\r\nx\r\n",
        b"get f\r\n",
        b"set f 18446744073709551616 0 1\r\nx\r\n",
        // bad input
        b"set bad 0 0 3\r\nabcd\r\n",
        b"set neg 0 0 -1\r\n",
        b"set k 0 0\r\n",
        b"set k 0 0 1 noreply extra\r\nx\r\n",
        b"set k 0 0 1 extra\r\nx\r\n",
        b"set k x 0 1\r\nx\r\n",
        b"get\r\n",
        b"bogus\r\n",
        b"\r\n",
        b"touch t\r\n",
        // pipelined
        b"set pipe 0 0 1\r\nx\r\nget pipe\r\nget pipe pipe\r\n",
        b"verbosity 1\r\n",
        b"verbosity\r\n",
        b"flush_all\r\n",
        b"get pipe k\r\n",
        b"flush_all noreply\r\n",
        b"flush_all 0\r\n",
        b"flush_all x\r\n",
        // the meta protocol
        b"ms foo 3 T0 F5\r\nbar\r\n",
        b"ms foo 3 c k O123 q\r\nbar\r\n",
        b"mg foo v f t s k O9 c\r\n",
        b"mg foo\r\n",
        b"mg missing v\r\n",
        b"mg missing v k O5\r\n",
        b"mg missing v q\r\nmn\r\n",
        b"mg Zm9v b v k\r\n",
        b"ms foo 3 MA\r\nbaz\r\n",
        b"mg foo v\r\n",
        b"ms foo 3 MP F7\r\n<<<\r\n",
        b"mg foo v f\r\n",
        b"ms foo 3 MX\r\nbaz\r\n",
        b"ms nope 3 MR\r\nbaz\r\n",
        b"ms foo 3 C1\r\nbaz\r\n",
        b"ms nope 3 C1\r\nbaz\r\n",
        b"ms foo 3 ME\r\nbaz\r\n",
        b"ms foo x\r\n",
        b"ms foo 3 T-1\r\nbaz\r\nmg foo v\r\n",
        b"md foo\r\n",
        b"md foo q\r\nmn\r\n",
        b"md foo O1 k\r\n",
        b"ms gone 1\r\nx\r\nmd gone q\r\nmg gone v\r\n",
        b"ma cnt\r\n",
        b"ma cnt N0 J10 v\r\n",
        b"ma cnt v\r\n",
        b"ma cnt D5 MD v\r\n",
        b"ma cnt D100 M- v t c\r\n",
        b"ma cnt q\r\nmn\r\n",
        b"ma cnt MX\r\n",
        b"ms txt 1\r\nx\r\nma txt\r\n",
        b"mn\r\n",
        b"mg foo zz\r\n",
        b"mg\r\n",
        // stale items and recache wins: vivify on miss, invalidate
        b"mg viv v N30 t c\r\n",
        b"mg viv v N30 t\r\n",
        b"mg viv v\r\n",
        b"ms viv 3 T60\r\nnew\r\n",
        b"mg viv v\r\n",
        b"mg viv2 s N30\r\n",
        b"md viv I T30\r\n",
        b"mg viv v c\r\n",
        b"mg viv v c\r\n",
        b"get viv\r\n",
        b"ms viv 4\r\nnew2\r\n",
        b"mg viv v\r\n",
        b"md viv q I\r\nmn\r\n",
        b"mg viv v k\r\n",
        b"md nothere I\r\n",
        b"mg nn v q N5\r\nmn\r\n",
        b"ms late 1\r\na\r\n",
        b"ms late 1 I C1\r\nz\r\n",
        b"mg late v c\r\n",
        b"mg late v\r\n",
        b"ms late 1 I C18446744073709551615\r\nz\r\n",
    ]
    .iter()
    .map(|r| r.to_vec())
    .collect();
    let long = vec![b'k'; 250];
    s.push([b"set ", &long[..], b" 0 0 1\r\nx\r\n"].concat());
    s.push([b"get ", &long[..], b"\r\n"].concat());
    let over = vec![b'k'; 251];
    s.push([b"set ", &over[..], b" 0 0 1\r\nx\r\n"].concat());
    s.push([b"get ", &over[..], b"\r\n"].concat());
    s.push([b"mg ", &over[..], b" v\r\n"].concat());
    // A value far over the limit: refused, its bytes skipped.
    s.push(
        [
            &b"set huge 0 0 2000000\r\n"[..],
            &vec![b'x'; 2_000_000],
            b"\r\n",
        ]
        .concat(),
    );
    s.push(b"get huge\r\n".to_vec());
    s
}

#[test]
fn a_session_is_answered_as_memcached_answers_it() {
    if common::missing(&["memcached"]) {
        return;
    }
    let memcached = Memcached::start(64, &[]);
    let dir = tempfile::tempdir().unwrap();
    let (mut node, addr) = start_node(&dir.path().join("items.log"), &[]);
    let mut theirs = Session::open(&memcached.addr);
    let mut ours = Session::open(&addr);
    for request in script() {
        let want = theirs.ask(&request);
        let got = ours.ask(&request);
        let shown = String::from_utf8_lossy(&request[..request.len().min(80)]).into_owned();
        assert_eq!(got, want, "request {shown:?}");
    }
    node.kill();
}

#[test]
fn the_item_limit_is_exact_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, addr) = start_node(&dir.path().join("items.log"), &["--max-item-size", "2MiB"]);
    let mut s = Session::open(&addr);
    let exact = [&b"set x 0 0 2097152\r\n"[..], &vec![b'y'; 2 << 20], b"\r\n"].concat();
    assert_eq!(s.ask(&exact), "STORED\r\n");
    let over = [
        &b"set x 0 0 2097153\r\n"[..],
        &vec![b'y'; (2 << 20) + 1],
        b"\r\n",
    ]
    .concat();
    assert_eq!(s.ask(&over), "SERVER_ERROR object too large for cache\r\n");
    assert!(
        s.ask(b"stats settings\r\n")
            .contains("STAT item_size_max 2097152\r\n")
    );
    // `E`: the client names the new CAS (memcached 1.6.21+; 1.6.18 refuses the flag).
    assert_eq!(s.ask(b"ms e 1 E999 c\r\nx\r\n"), "HD cCAS\r\n");
    assert_eq!(s.ask(b"mg e v\r\n"), "VA 1\r\nx\r\n");
    assert_eq!(s.ask(b"ms e 1 C999\r\ny\r\n"), "HD\r\n", "the CAS was 999");
    assert_eq!(s.ask(b"ma cnt N0 J5 E777 v\r\n"), "VA 1\r\n5\r\n");
    assert_eq!(
        s.ask(b"ms cnt 1 C777\r\n6\r\n"),
        "HD\r\n",
        "ma E set the CAS"
    );
    assert_eq!(s.ask(b"md cnt I E555\r\n"), "HD\r\n");
    assert_eq!(
        s.ask(b"ms cnt 1 C555\r\n7\r\n"),
        "HD\r\n",
        "md I E set the CAS"
    );
    node.kill();
}

#[test]
fn a_node_killed_again_and_again_keeps_every_stored_item() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("items.log");
    let mut stored: Vec<(String, u32, Vec<u8>)> = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for cycle in 0..20 {
        let (mut node, addr) = start_node(&data, &[]);
        // Everything acknowledged so far is there, with its bytes and flags.
        let mut check = Session::open(&addr);
        for (key, flags, value) in &stored {
            let answer = check.ask(format!("get {key}\r\n").as_bytes());
            let want = format!(
                "VALUE {key} {flags} {}\r\n{}\r\nEND\r\n",
                value.len(),
                String::from_utf8_lossy(value)
            );
            assert_eq!(answer, want, "cycle {cycle}: {key}");
        }
        // A writer streams sets without waiting for answers; the node is killed while it
        // writes. Only the answers that arrived count.
        let writer = TcpStream::connect(&addr).unwrap();
        let mut reader = BufReader::new(writer.try_clone().unwrap());
        let sent: Vec<(String, u32, Vec<u8>)> = (0..200)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let value = format!("{cycle}-{i}-{}", "v".repeat((seed % 3000) as usize));
                (
                    format!("k{cycle}-{i}"),
                    (seed >> 40) as u32,
                    value.into_bytes(),
                )
            })
            .collect();
        let feeder = {
            let mut w = writer.try_clone().unwrap();
            let sent = sent.clone();
            std::thread::spawn(move || {
                for (key, flags, value) in sent {
                    let head = format!("set {key} {flags} 0 {}\r\n", value.len());
                    if w.write_all(head.as_bytes()).is_err()
                        || w.write_all(&value).is_err()
                        || w.write_all(b"\r\n").is_err()
                    {
                        return;
                    }
                }
            })
        };
        let kill_after = (seed % 150) as usize + 1;
        let mut acked = 0;
        while acked < kill_after {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            assert_eq!(line, "STORED\r\n", "cycle {cycle}");
            acked += 1;
        }
        node.kill();
        let _ = feeder.join();
        stored.extend(sent.into_iter().take(acked));
    }
    assert!(stored.len() > 20, "the writers got answers");
}

/// Our own client over logcache nodes: `MemcachedStore` sizes its values from the node's
/// `stats settings` and speaks the meta protocol; BigCache spreads an object's blocks over a
/// ring of three nodes with two copies, which outlives a killed node, and a node restarted on
/// its log has its items back.
#[test]
fn bigcache_over_a_ring_of_logcache_memcached_nodes() {
    use logcache::{BigCache, MemcachedStore, ShardedStore};

    let dir = tempfile::tempdir().unwrap();
    let logs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("n{i}.log")))
        .collect();
    let mut nodes: Vec<(Node, String)> = logs.iter().map(|l| start_node(l, &[])).collect();
    let ring = |nodes: &[(Node, String)]| {
        let stores = nodes
            .iter()
            .map(|(_, a)| (a.clone(), MemcachedStore::connect(a.as_str()).unwrap()));
        BigCache::new(ShardedStore::new(stores, 2).unwrap()).unwrap()
    };
    let object: Vec<u8> = (0..5u32 << 20).map(|i| (i * 31 % 251) as u8).collect();
    {
        let cache = ring(&nodes);
        cache.set("film", &object).unwrap();
        assert_eq!(cache.get("film").unwrap().as_deref(), Some(&object[..]));
    }
    let first = MemcachedStore::connect(nodes[0].1.as_str()).unwrap();
    logcache::KvStore::set(&first, b"probe", b"acknowledged").unwrap();
    drop(first);
    // SIGKILL one node: the other copies serve.
    nodes[0].0.kill();
    {
        let stores = nodes[1..]
            .iter()
            .map(|(_, a)| (a.clone(), MemcachedStore::connect(a.as_str()).unwrap()));
        let ring = ShardedStore::new(stores, 2).unwrap();
        // Over two of the three nodes every block and the manifest has at least one copy.
        let cache = BigCache::new(ring).unwrap();
        assert_eq!(cache.get("film").unwrap().as_deref(), Some(&object[..]));
    }
    // Restarted on its log, the killed node holds what it acknowledged.
    nodes[0] = start_node(&logs[0], &[]);
    let first = MemcachedStore::connect(nodes[0].1.as_str()).unwrap();
    assert!(logcache::KvStore::max_value_len(&first) > 1_000_000);
    assert_eq!(
        logcache::KvStore::get(&first, b"probe").unwrap().as_deref(),
        Some(&b"acknowledged"[..])
    );
    let cache = ring(&nodes);
    assert_eq!(cache.get("film").unwrap().as_deref(), Some(&object[..]));
}

/// Clients people run: pymemcache (the Debian package, under the system Python) through the
/// calls a service makes, and libmemcached's tools copying a file in and out and running
/// their load generator. `scripts/test` installs both.
#[test]
fn pymemcache_and_libmemcached_tools_work_against_a_node() {
    if common::missing(&["libmemcached-tools", "python3-pymemcache"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_node, addr) = start_node(&dir.path().join("items.log"), &[]);
    let port = addr.rsplit(':').next().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pymemcache_session.py"
    );
    let out = Command::new("/usr/bin/python3")
        .args([script, port])
        .output()
        .expect("the system python3 (scripts/test installs python3-pymemcache)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let servers = format!("--servers={addr}");
    let file = dir.path().join("photo.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let cp = Command::new("memccp")
        .current_dir(dir.path())
        .args([&servers, "photo.bin"])
        .output()
        .expect("memccp (scripts/test installs libmemcached-tools)");
    assert!(cp.status.success(), "{cp:?}");
    let cat = Command::new("memccat")
        .args([&servers, "photo.bin"])
        .output()
        .unwrap();
    assert!(cat.status.success(), "{cat:?}");
    // memccat ends its output with a newline, with memcached too.
    assert!(cat.stdout.starts_with(&bytes) && cat.stdout.len() == bytes.len() + 1);
    let slap = Command::new("memcslap")
        .args([&servers, "--concurrency=4", "--execute-number=1000"])
        .output()
        .unwrap();
    assert!(slap.status.success(), "{slap:?}");
    assert!(
        String::from_utf8_lossy(&slap.stdout).contains("Time to set"),
        "{slap:?}"
    );
}

/// twemproxy (nutcracker) with ketama in front of three nodes: 10,000 keys spread over all
/// three; a node SIGKILLed and restarted on its log, where it was, has its keys back, and
/// every key reads through the proxy. `scripts/test` installs nutcracker.
#[test]
fn behind_twemproxy_keys_spread_and_a_killed_node_keeps_its_share() {
    if common::missing(&["nutcracker"]) {
        return;
    }
    const KEYS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let logs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("n{i}.log")))
        .collect();
    // Writes reach the operating system at once: a SIGKILL loses nothing even without fsync.
    let fast = ["--durability", "none"];
    let mut nodes: Vec<(Node, String)> = logs.iter().map(|l| start_node(l, &fast)).collect();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (proxy_port, stats_port) = (free(), free());
    let servers: String = nodes.iter().map(|(_, a)| format!("   - {a}:1\n")).collect();
    let conf = dir.path().join("nutcracker.yml");
    std::fs::write(
        &conf,
        format!(
            "alpha:\n  listen: 127.0.0.1:{proxy_port}\n  hash: fnv1a_64\n  distribution: \
             ketama\n  timeout: 5000\n  auto_eject_hosts: false\n  servers:\n{servers}"
        ),
    )
    .unwrap();
    let proxy = Command::new("/usr/sbin/nutcracker")
        .arg("-c")
        .arg(&conf)
        .args(["-s", &stats_port.to_string(), "-a", "127.0.0.1"])
        .arg("-o")
        .arg(dir.path().join("nutcracker.log"))
        .arg("-p")
        .arg(dir.path().join("nutcracker.pid"))
        .spawn()
        .expect("nutcracker (scripts/test installs it)");
    let _proxy = Node(proxy);
    let proxy_addr = format!("127.0.0.1:{proxy_port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut c = loop {
        match TcpStream::connect(&proxy_addr) {
            Ok(s) => break BufReader::new(s),
            Err(e) => {
                let log = std::fs::read_to_string(dir.path().join("nutcracker.log"));
                assert!(
                    std::time::Instant::now() < deadline,
                    "nutcracker does not listen ({e}): {log:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    // Pipelined sets through the proxy, then their answers.
    let mut batch = Vec::new();
    for i in 0..KEYS {
        batch.extend_from_slice(format!("set key{i} {i} 0 6\r\nv{i:05}\r\n").as_bytes());
    }
    c.get_mut().write_all(&batch).unwrap();
    for i in 0..KEYS {
        let mut line = String::new();
        c.read_line(&mut line).unwrap();
        assert_eq!(line, "STORED\r\n", "key{i}");
    }
    // Every node holds a share.
    for (_, addr) in &nodes {
        let mut s = Session::open(addr);
        let stats = s.ask(b"stats\r\n");
        let items: usize = stats
            .lines()
            .find_map(|l| l.strip_prefix("STAT curr_items "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(items > KEYS / 6, "{addr} holds {items} of {KEYS}");
    }
    // SIGKILL one node, restart it on its log where it was.
    let addr = nodes[1].1.clone();
    nodes[1].0.kill();
    nodes[1] = start_node_at(&logs[1], &addr, &fast);
    // Every key reads through the proxy (the first requests to the restarted node may meet
    // the proxy's dead connection to it: asked again).
    let mut c = BufReader::new(TcpStream::connect(&proxy_addr).unwrap());
    for i in 0..KEYS {
        let want = format!("VALUE key{i} {i} 6\r\nv{i:05}\r\nEND\r\n");
        let mut got = String::new();
        for _attempt in 0..5 {
            c.get_mut()
                .write_all(format!("get key{i}\r\n").as_bytes())
                .unwrap();
            got.clear();
            loop {
                let mut line = String::new();
                c.read_line(&mut line).unwrap();
                got.push_str(&line);
                if line == "END\r\n" || line.starts_with("SERVER_ERROR") || line.is_empty() {
                    break;
                }
            }
            if got == want {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(got, want, "key{i} through the proxy");
    }
    // Our own client through the proxy: the text protocol, the item size declared (twemproxy
    // does not forward `stats`), BigCache's binary block keys under digests.
    use logcache::{BigCache, KvStore, MemcachedProtocol, MemcachedStore};
    let refused = MemcachedStore::builder(proxy_addr.as_str())
        .protocol(MemcachedProtocol::Text)
        .connect()
        .unwrap_err();
    assert!(refused.to_string().contains("item_size_max"), "{refused}");
    let store = MemcachedStore::builder(proxy_addr.as_str())
        .protocol(MemcachedProtocol::Text)
        .item_size_max(1 << 20)
        .connect()
        .unwrap();
    store.set(b"binary\x00key", b"v").unwrap();
    assert_eq!(
        store.get(b"binary\x00key").unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert!(store.delete(b"binary\x00key").unwrap());
    let cache = BigCache::new(store).unwrap();
    let object: Vec<u8> = (0..3u32 << 20).map(|i| (i * 13 % 251) as u8).collect();
    cache.set("through the proxy", &object).unwrap();
    assert_eq!(
        cache.get("through the proxy").unwrap().as_deref(),
        Some(&object[..])
    );
}

/// Runs pymemcache's own integration tests (`pymemcache/test/test_integration.py`, shipped
/// with the python3-pymemcache package) against `addr`; the pytest summary and the names
/// of the tests that passed.
fn pymemcache_suite(addr: &str) -> (String, Vec<String>) {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import pymemcache.test, os; print(os.path.dirname(pymemcache.test.__file__))",
        ])
        .output()
        .expect("the system python3 (scripts/test installs python3-pymemcache)");
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let suite = format!("{dir}/test_integration.py");
    assert!(std::path::Path::new(&suite).exists(), "{suite} is missing");
    // The TLS tests need a TLS listener, which neither server has here.
    let out = Command::new("/usr/bin/python3")
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rA",
            "-k",
            "not tls",
        ])
        .arg(&suite)
        .args(["--server", host, "--port", port])
        .current_dir(std::env::temp_dir())
        .output()
        .expect("pytest for the system python3 (scripts/test installs python3-pytest)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let passed = text
        .lines()
        .filter_map(|l| l.strip_prefix("PASSED "))
        .map(|l| l.rsplit("::").next().unwrap_or(l).to_string())
        .collect();
    let summary = text.lines().last().unwrap_or("").to_string();
    assert!(
        out.status.success(),
        "pymemcache's suite failed against {addr}:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (summary, passed)
}

/// pymemcache's own integration tests pass against a node, the same ones as against a real
/// memcached.
#[test]
fn pymemcaches_own_integration_tests_pass() {
    if common::missing(&["memcached", "python3-pymemcache"]) {
        return;
    }
    let memcached = Memcached::start(64, &[]);
    let dir = tempfile::tempdir().unwrap();
    let (mut node, addr) = start_node(&dir.path().join("items.log"), &[]);
    let (theirs, want) = pymemcache_suite(&memcached.addr);
    let (ours, got) = pymemcache_suite(&addr);
    eprintln!("pymemcache's test_integration.py, memcached: {theirs}");
    eprintln!("pymemcache's test_integration.py, logcache:  {ours}");
    for name in &got {
        eprintln!("  PASSED {name}");
    }
    assert!(!got.is_empty(), "{ours}");
    assert_eq!(got, want, "the tests that pass against memcached");
    node.kill();
}

/// kill -9 under four writers at once, two pipelining plain sets and two sending `noreply`
/// sets in batches closed by `mn` (its `MN` acknowledges every set before it: requests are
/// answered in order, each write durable before the next request runs). After each restart
/// every acknowledged item is there.
#[test]
fn a_node_killed_under_pipelined_and_noreply_writers_keeps_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("items.log");
    let mut stored: Vec<(String, Vec<u8>)> = Vec::new();
    for cycle in 0..10u64 {
        let (mut node, addr) = start_node(&data, &[]);
        let mut check = Session::open(&addr);
        for (key, value) in &stored {
            let answer = check.ask(format!("get {key}\r\n").as_bytes());
            let want = format!(
                "VALUE {key} 0 {}\r\n{}\r\nEND\r\n",
                value.len(),
                String::from_utf8_lossy(value)
            );
            assert_eq!(answer, want, "cycle {cycle}: {key}");
        }
        let writers: Vec<_> = (0..4u64)
            .map(|w| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    let quiet = w % 2 == 1;
                    let stream = TcpStream::connect(&addr).unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut out = stream;
                    let mut acked = Vec::new();
                    for batch in 0..1000u64 {
                        let items: Vec<(String, Vec<u8>)> = (0..20u64)
                            .map(|i| {
                                let key = format!("c{cycle}w{w}b{batch}i{i}");
                                let len = (cycle * 7919 + batch * 131 + i * 17) % 2000;
                                (
                                    key.clone(),
                                    format!("{key}:{}", "x".repeat(len as usize)).into_bytes(),
                                )
                            })
                            .collect();
                        let mut wire = Vec::new();
                        for (key, value) in &items {
                            let nr = if quiet { " noreply" } else { "" };
                            wire.extend_from_slice(
                                format!("set {key} 0 0 {}{nr}\r\n", value.len()).as_bytes(),
                            );
                            wire.extend_from_slice(value);
                            wire.extend_from_slice(b"\r\n");
                        }
                        if quiet {
                            wire.extend_from_slice(b"mn\r\n");
                        }
                        if out.write_all(&wire).is_err() {
                            return acked;
                        }
                        let answers = if quiet { 1 } else { items.len() };
                        let mut got = 0;
                        for _ in 0..answers {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                break;
                            }
                            let want = if quiet { "MN\r\n" } else { "STORED\r\n" };
                            assert_eq!(line, want);
                            got += 1;
                        }
                        if quiet {
                            if got == 1 {
                                acked.extend(items);
                            } else {
                                return acked;
                            }
                        } else {
                            acked.extend(items.into_iter().take(got));
                            if got < answers {
                                return acked;
                            }
                        }
                    }
                    acked
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150 + cycle * 37 % 300));
        node.kill();
        for w in writers {
            stored.extend(w.join().unwrap());
        }
    }
    assert!(
        stored.len() > 100,
        "the writers got answers: {}",
        stored.len()
    );
}

/// `--memcached unix:PATH` (memcached's `-s`): served on a Unix socket; a stale socket file
/// left by a killed node is replaced at restart, and the items are back.
#[test]
fn a_node_serves_on_a_unix_socket() {
    use std::os::unix::net::UnixStream;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("items.log");
    let sock = dir.path().join("mc.sock");
    let listen = format!("unix:{}", sock.display());
    let ask = |request: &[u8]| {
        let mut c = UnixStream::connect(&sock).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(request).unwrap();
        c.write_all(b"quit\r\n").unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut c, &mut answer).unwrap();
        answer
    };
    let (mut node, addr) = start_node_at(&data, &listen, &[]);
    assert_eq!(addr, listen);
    assert_eq!(ask(b"set u 0 0 2\r\nok\r\n"), "STORED\r\n");
    node.kill();
    assert!(sock.exists(), "a killed node leaves its socket file");
    let (_node, _) = start_node_at(&data, &listen, &[]);
    assert_eq!(ask(b"get u\r\n"), "VALUE u 0 2\r\nok\r\nEND\r\n");
}
