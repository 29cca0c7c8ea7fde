package policy

import (
	"slices"
	"strings"
	"testing"
)

// These command lines are only ever parsed, never run.
type classifyCase struct {
	cmd    string
	want   Kind     // decide(steps).Kind
	svcs   []string // services of the Restart/Redeploy steps, in order; nil: not checked
	opaque bool     // some step is opaque
}

var classifyCases = []classifyCase{
	// Evasion forms of a restart: every one must be seen as a restart of x.
	// Reading a secret file is how a secret reaches the model.
	{cmd: `cat /repos/infra/.env.production`, want: Never},
	{cmd: `grep API_KEY .env`, want: Never},
	{cmd: `head -n1 /home/ops/.ssh/id_ed25519`, want: Never},
	{cmd: `tail --lines=5 /etc/app/tls.key`, want: Never},
	{cmd: `ssh h cat /srv/app/.env`, want: Never},
	{cmd: `F=.env; cat $F`, want: Never},
	{cmd: `tail -n 50 /var/log/app.log`, want: ReadOnly},
	{cmd: `grep -c error /var/log/syslog`, want: ReadOnly},
	{cmd: `echo password reset mail sent`, want: ReadOnly},
	{cmd: `docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `ssh host docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `ssh -p 22 -i k user@h 'sudo docker restart x'`, want: Restart, svcs: []string{"x"}},
	{cmd: `ssh -tt -o StrictHostKeyChecking=no h -- docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `sudo -u root docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `sudo -E -u root -- docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `sudo -s docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `env FOO=1 docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `env -i HOME=/root /usr/bin/docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `env -S 'docker restart' x`, want: Restart, svcs: []string{"x"}},
	{cmd: `sh -c 'docker restart x'`, want: Restart, svcs: []string{"x"}},
	{cmd: `bash -c "echo hi; docker restart x"`, want: Restart, svcs: []string{"x"}},
	{cmd: `bash -lc 'docker restart x'`, want: Restart, svcs: []string{"x"}},
	{cmd: `bash -c 'docker restart "$1"' _ x`, want: Restart, svcs: []string{"x"}},
	{cmd: `/usr/bin/docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `./docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `echo ok && docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `false || docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `true; docker compose -f a.yml up -d --force-recreate web`, want: Redeploy, svcs: []string{"web"}},
	{cmd: `docker ps | xargs docker restart`, want: Restart, svcs: []string{""}, opaque: true},
	{cmd: `docker ps -q | xargs -I{} docker restart {}`, want: Restart, opaque: true},
	{cmd: `$(echo docker) restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: "`echo docker` restart x", want: Restart, svcs: []string{"x"}},
	{cmd: `eval 'docker system prune -f'`, want: Never},
	{cmd: `eval docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `D=docker; $D restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `D="docker restart"; $D x`, want: Restart, svcs: []string{"x"}},
	{cmd: `timeout 5 sudo systemctl restart nginx.service`, want: Restart, svcs: []string{"nginx"}},
	{cmd: `timeout -s KILL 10 nohup nice -n 5 docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `kubectl -n prod rollout restart deploy/api`, want: Restart, svcs: []string{"api"}},
	{cmd: `kubectl rollout restart deployment api web -n prod`, want: Restart, svcs: []string{"api", "web"}},
	{cmd: `kubectl rollout restart deploy -n prod`, want: Restart, opaque: true},
	{cmd: `docker   restart    x`, want: Restart, svcs: []string{"x"}},
	{cmd: `DOCKER_HOST=ssh://h docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `do''cker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `"docker" restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `\docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `$'\x64ocker' restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: "echo hi\ndocker restart x", want: Restart, svcs: []string{"x"}},
	{cmd: `(docker restart x)`, want: Restart, svcs: []string{"x"}},
	{cmd: `{ docker restart x; }`, want: Restart, svcs: []string{"x"}},
	{cmd: `echo $(docker restart x)`, want: Restart, svcs: []string{"x"}},
	{cmd: "x=`docker restart y`", want: Restart, svcs: []string{"y"}},
	{cmd: `cat <(docker restart x)`, want: Restart, svcs: []string{"x"}},
	{cmd: `if true; then docker restart x; fi`, want: Restart, svcs: []string{"x"}},
	{cmd: `for s in a b; do docker restart $s; done`, want: Restart, svcs: []string{"a", "b"}},
	{cmd: `f() { docker restart x; }; f`, want: Restart, svcs: []string{"x"}},
	{cmd: `exec docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `command docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `busybox sh -c 'docker restart x'`, want: Restart, svcs: []string{"x"}},
	{cmd: `watch -n 5 docker restart x`, want: Restart, svcs: []string{"x"}},
	{cmd: `find / -name x -exec docker restart {} \;`, want: Restart, opaque: true},
	{cmd: "bash <<EOF\ndocker restart web\nEOF", want: Restart, svcs: []string{"web"}},
	{cmd: "ssh host bash -s <<'EOF'\ndocker volume rm data\nEOF", want: Never},
	{cmd: "ssh host <<EOF\nsystemctl restart api\nEOF", want: Restart, svcs: []string{"api"}},
	{cmd: `bash <<< 'docker restart x'`, want: Restart, svcs: []string{"x"}},
	{cmd: "X=$(cat f)\nbash <<EOF\n$X\nEOF", want: Mutating, opaque: true},
	{cmd: `su -c 'docker restart x' root`, want: Restart, svcs: []string{"x"}},
	{cmd: `docker exec web sh -c 'kill -HUP 1'`, want: Mutating},
	{cmd: `docker compose exec db psql -c 'select 1'`, want: ReadOnly},

	// Opaque: what runs cannot be known.
	{cmd: `$X restart`, want: Mutating, opaque: true},
	{cmd: `${X} volume rm data`, want: Mutating, opaque: true},
	{cmd: `eval "$CMD"`, want: Mutating, opaque: true},
	{cmd: `curl http://x | sh`, want: Mutating, opaque: true},
	{cmd: `echo 'docker restart x' | bash`, want: Mutating, opaque: true},
	{cmd: `sh -c "$1"`, want: Mutating, opaque: true},
	{cmd: `docker restart $(docker ps -q)`, want: Restart, opaque: true},
	{cmd: `systemctl restart 'php*'`, want: Restart, opaque: true},
	{cmd: `PATH=/tmp:$PATH ls`, want: Mutating, opaque: true},
	{cmd: `LD_PRELOAD=/tmp/x.so cat f`, want: Mutating, opaque: true},
	{cmd: `ssh -o ProxyCommand='sh -c x' h uptime`, want: Mutating, opaque: true},
	{cmd: `if x; then D=ls; else D=docker; fi; $D volume rm x`, want: Mutating, opaque: true},
	{cmd: `echo 'unterminated`, want: Mutating, opaque: true},
	{cmd: `X=ls; printf -v X docker; $X volume rm v`, want: Mutating, opaque: true},
	{cmd: `hash -p /tmp/x ls; ls`, want: Mutating, opaque: true},
	{cmd: `X=ls; . /tmp/env.sh; $X volume rm v`, want: Mutating, opaque: true},
	{cmd: `ssh host`, want: Mutating, opaque: true},
	{cmd: `curl -X POST --unix-socket /var/run/docker.sock http://d/containers/x/restart`, want: Mutating, opaque: true},

	// Restarts and redeploys, with service naming.
	{cmd: `docker restart a b`, want: Restart, svcs: []string{"a", "b"}},
	{cmd: `docker container restart -t 5 web`, want: Restart, svcs: []string{"web"}},
	{cmd: `podman restart web`, want: Restart, svcs: []string{"web"}},
	{cmd: `docker start web`, want: Restart, svcs: []string{"web"}},
	{cmd: `docker compose restart`, want: Restart, svcs: []string{""}},
	{cmd: `docker compose -p shop restart`, want: Restart, svcs: []string{"shop"}},
	{cmd: `docker compose -f /srv/shop/docker-compose.yml restart`, want: Restart, svcs: []string{"shop"}},
	{cmd: `docker compose restart web worker`, want: Restart, svcs: []string{"web", "worker"}},
	{cmd: `docker-compose restart web`, want: Restart, svcs: []string{"web"}},
	{cmd: `systemctl restart nginx`, want: Restart, svcs: []string{"nginx"}},
	{cmd: `systemctl --no-block try-restart a.service b`, want: Restart, svcs: []string{"a", "b"}},
	{cmd: `systemctl reload-or-restart haproxy`, want: Restart, svcs: []string{"haproxy"}},
	{cmd: `service nginx restart`, want: Restart, svcs: []string{"nginx"}},
	{cmd: `/etc/init.d/nginx restart`, want: Restart, svcs: []string{"nginx"}},
	{cmd: `docker compose up -d`, want: Redeploy, svcs: []string{""}},
	{cmd: `docker compose -p shop up -d --build`, want: Redeploy, svcs: []string{"shop"}},
	{cmd: `docker stack deploy -c stack.yml shop`, want: Redeploy, svcs: []string{"shop"}},
	{cmd: `docker service update --force shop_web`, want: Restart, svcs: []string{"shop_web"}},
	{cmd: `docker service update --image web:2 shop_web`, want: Redeploy, svcs: []string{"shop_web"}},
	{cmd: `ansible-playbook -i inv site.yml`, want: Redeploy},
	{cmd: `ansible-playbook --check site.yml`, want: ReadOnly},
	{cmd: `helm upgrade api ./chart -n prod`, want: Redeploy, svcs: []string{"api"}},
	{cmd: `helm -n prod rollback api 3`, want: Redeploy, svcs: []string{"api"}},
	{cmd: `helm install --dry-run api ./chart`, want: ReadOnly},
	{cmd: `kubectl apply -f deploy.yaml`, want: Redeploy},
	{cmd: `kubectl apply --dry-run=client -f deploy.yaml`, want: ReadOnly},
	{cmd: `kubectl rollout undo deploy/api`, want: Redeploy, svcs: []string{"api"}},
	{cmd: `kubectl set image deploy/api api=img:2`, want: Redeploy, svcs: []string{"api"}},
	{cmd: `terraform apply -auto-approve`, want: Redeploy},
	{cmd: `ansible web -m service -a 'name=nginx state=restarted'`, want: Restart, svcs: []string{"nginx"}},
	{cmd: `ansible web -m shell -a 'docker restart x'`, want: Restart, svcs: []string{"x"}},

	// Never.
	{cmd: `docker volume rm data`, want: Never},
	{cmd: `docker volume prune -f`, want: Never},
	{cmd: `docker rm -v web`, want: Never},
	{cmd: `docker rm -fv web`, want: Never},
	{cmd: `docker compose down -v`, want: Never},
	{cmd: `docker compose down --volumes`, want: Never},
	{cmd: `docker system prune -af`, want: Never},
	{cmd: `git push origin main`, want: Never},
	{cmd: `git -C /repos/x push`, want: Never},
	{cmd: `git commit -am x`, want: Never}, // the working directory is the repos dir
	{cmd: `iptables -A INPUT -j DROP`, want: Never},
	{cmd: `nft add rule inet filter input drop`, want: Never},
	{cmd: `ip addr add 10.0.0.1/24 dev eth0`, want: Never},
	{cmd: `ip route del default`, want: Never},
	{cmd: `ip link set eth0 down`, want: Never},
	{cmd: `nmcli connection down eth0`, want: Never},
	{cmd: `ufw allow 22`, want: Never},
	{cmd: `route add default gw 10.0.0.1`, want: Never},
	{cmd: `echo "root:x" | chpasswd`, want: Never},
	{cmd: `passwd root`, want: Never},
	{cmd: `rm -rf /repos/infra`, want: Never},
	{cmd: `rm -rf /repos/*`, want: Never},
	{cmd: `rm -rf /rep*`, want: Never},
	{cmd: `rm -rf /`, want: Never},
	{cmd: `rm -rf /var/lib/docker/volumes/db_data`, want: Never},
	{cmd: `rm -rf /var/lib/docker`, want: Never},
	{cmd: `cd /repos/x && rm f`, want: Never},
	{cmd: `(cd /tmp); touch f`, want: Never},
	{cmd: `rm ../repos/x`, want: Never},
	{cmd: `echo x > /repos/infra/file`, want: Never},
	{cmd: `echo x >> /repos/infra/file`, want: Never},
	{cmd: `echo x | tee /repos/infra/file`, want: Never},
	{cmd: `echo x | sudo tee -a /etc/app/.env`, want: Never},
	{cmd: `sed -i s/a/b/ /repos/infra/compose.yml`, want: Never},
	{cmd: `cp /tmp/x /repos/infra/`, want: Never},
	{cmd: `mv /repos/infra/a /tmp/`, want: Never},
	{cmd: `echo key > ~/.ssh/authorized_keys`, want: Never},
	{cmd: `echo nameserver 1.1.1.1 > /etc/resolv.conf`, want: Never},
	{cmd: `docker run --rm -v /repos:/r alpine rm -rf /r`, want: Never},
	{cmd: `docker run -v /var/run/docker.sock:/var/run/docker.sock docker:cli ps`, want: Never},
	{cmd: `docker run --privileged alpine`, want: Never},
	{cmd: `kubectl delete pvc data-db-0`, want: Never},
	{cmd: `kubectl create secret generic x --from-literal=a=b`, want: Never},
	{cmd: `terraform destroy`, want: Never},
	{cmd: `redis-cli FLUSHALL`, want: Never},
	{cmd: `mkfs.ext4 /dev/sdb1`, want: Mutating}, // unknown name: fails closed as Mutating
	{cmd: `mkfs /dev/sdb1`, want: Never},
	{cmd: `dd if=/dev/zero of=/dev/sda`, want: Never},
	{cmd: `echo ok; docker restart x; docker volume rm d`, want: Never},

	// Other mutating (fail closed).
	{cmd: `rm -rf /tmp/x`, want: Mutating},
	{cmd: `curl -X POST http://x/api`, want: Mutating},
	{cmd: `curl -d 'a=b' http://x/api`, want: Mutating},
	{cmd: `curl -sf -o /tmp/page http://x/`, want: Mutating},
	{cmd: `cat /etc/hosts | grep x > /tmp/out`, want: Mutating},
	{cmd: `find /var/log -name '*.log' -mtime +7 -delete`, want: Mutating},
	{cmd: `docker stop web`, want: Mutating},
	{cmd: `docker compose down`, want: Mutating},
	{cmd: `systemctl stop nginx`, want: Mutating},
	{cmd: `kubectl scale deploy/api --replicas=3`, want: Mutating},
	{cmd: `python3 -c 'print(1)'`, want: Mutating},
	{cmd: `/tmp/ls`, want: Mutating},
	{cmd: `frobnicate --now`, want: Mutating},
	{cmd: `sleep infinity`, want: Mutating},
	{cmd: `sleep 3600`, want: Mutating},
	{cmd: `psql -c 'delete from users'`, want: Mutating},
	{cmd: `redis-cli set k v`, want: Mutating},
	{cmd: `chmod 640 /etc/nginx/conf.d/site.conf`, want: Mutating},
	{cmd: `bash /tmp/script.sh`, want: Mutating},
	{cmd: `awk '{ system("reboot") }'`, want: Mutating},
	{cmd: `sed -n '1w /tmp/x' f`, want: Mutating},

	// Read-only must stay read-only.
	{cmd: `curl -s http://localhost:8080/health`, want: ReadOnly},
	{cmd: `curl -sS -o /dev/null -w '%{http_code}' https://example.com`, want: ReadOnly},
	{cmd: `curl -G -d q=up http://prom:9090/api/v1/query`, want: ReadOnly},
	{cmd: `dig +short example.com`, want: ReadOnly},
	{cmd: `host example.com`, want: ReadOnly},
	{cmd: `docker ps --format '{{.Names}}' | grep web | head -1`, want: ReadOnly},
	{cmd: `docker inspect web | jq '.[0].State'`, want: ReadOnly},
	{cmd: `docker logs --tail 100 web 2>&1`, want: ReadOnly},
	{cmd: `docker stats --no-stream`, want: ReadOnly},
	{cmd: `docker compose ps`, want: ReadOnly},
	{cmd: `docker compose -f /repos/shop/compose.yml logs --tail 50 web`, want: ReadOnly},
	{cmd: `systemctl status nginx --no-pager`, want: ReadOnly},
	{cmd: `systemctl is-active nginx`, want: ReadOnly},
	{cmd: `journalctl -u nginx --since '10 min ago' | tail -50`, want: ReadOnly},
	{cmd: `kubectl get pods -A`, want: ReadOnly},
	{cmd: `kubectl -n prod describe deploy/api`, want: ReadOnly},
	{cmd: `kubectl logs deploy/api --tail=50`, want: ReadOnly},
	{cmd: `ping -c 3 10.0.0.1`, want: ReadOnly},
	{cmd: `echo hi; printf '%s\n' x; true`, want: ReadOnly},
	{cmd: `test -f /etc/x && echo yes || echo no`, want: ReadOnly},
	{cmd: `[[ -f /etc/x ]] && echo yes`, want: ReadOnly},
	{cmd: `head -n 20 /var/log/syslog | wc -l`, want: ReadOnly},
	{cmd: `cat /repos/infra/CLAUDE-OPS.md`, want: ReadOnly},
	{cmd: `ls -la /repos`, want: ReadOnly},
	{cmd: `grep -r error /var/log/app/ | sort | uniq -c | sort -rn | head`, want: ReadOnly},
	{cmd: `awk '{print $1}' access.log | sort | uniq -c`, want: ReadOnly},
	{cmd: `date -u; sleep 5; uptime`, want: ReadOnly},
	{cmd: `df -h; free -m; ps aux | head`, want: ReadOnly},
	{cmd: `ss -tlnp`, want: ReadOnly},
	{cmd: `pg_isready -h db -p 5432`, want: ReadOnly},
	{cmd: `redis-cli -h cache ping`, want: ReadOnly},
	{cmd: `psql -h db -U app -c 'select count(*) from jobs'`, want: ReadOnly},
	{cmd: `ip a; ip route show; iptables -L -n`, want: ReadOnly},
	{cmd: `nft list ruleset`, want: ReadOnly},
	{cmd: `git -C /repos/infra log --oneline -5`, want: ReadOnly},
	{cmd: `git status`, want: ReadOnly},
	{cmd: `ssh web1 'docker ps; uptime'`, want: ReadOnly},
	{cmd: `sudo journalctl -u api -n 50`, want: ReadOnly},
	{cmd: `timeout 10 curl -s http://x/health`, want: ReadOnly},
	{cmd: `for h in a b; do curl -s http://$h/health; done`, want: ReadOnly},
	{cmd: `docker ps -q | xargs docker inspect`, want: ReadOnly},
	{cmd: `cat /etc/hosts > /dev/null 2>&1`, want: ReadOnly},
	{cmd: `openssl s_client -connect x:443 </dev/null 2>/dev/null | openssl x509 -noout -dates`, want: ReadOnly},
	{cmd: `helm list -A; helm status api`, want: ReadOnly},
	{cmd: `find /var/log -name '*.log' -size +100M`, want: ReadOnly},
	{cmd: `sed -n '1,20p' /etc/nginx/nginx.conf`, want: ReadOnly},
	{cmd: `X=web; docker logs $X`, want: ReadOnly},
	// What an investigation runs: each command the registry knows as read-only.
	{cmd: `tac /var/log/app.log | less`, want: ReadOnly},
	{cmd: `cut -d' ' -f1 access.log | tr a-z A-Z | column -t | paste -sd, | fold -w 80 | nl | rev`, want: ReadOnly},
	{cmd: `egrep -i 'err|warn' app.log; fgrep -c OOM /var/log/syslog; zgrep panic app.log.1.gz; rg -n timeout /etc/nginx`, want: ReadOnly},
	{cmd: `tree -L 2 /repos; stat /var/log/app.log; file /usr/bin/app; readlink -f /etc/alternatives/java; realpath .`, want: ReadOnly},
	{cmd: `basename /a/b; dirname /a/b; pwd; whoami; id; who; uname -a; nproc; lscpu; lsblk; findmnt /data`, want: ReadOnly},
	{cmd: `du -sh /var/lib/app; vmstat 1 3; iostat -x 1 2; pgrep -fa nginx; pidof nginx; pstree -p; lsof -i :80`, want: ReadOnly},
	{cmd: `netstat -tlnp; traceroute db; tracepath db; mtr -rw db; nslookup db; getent hosts db`, want: ReadOnly},
	{cmd: `[ -f /etc/app.conf ] && cat /etc/app.conf || :`, want: ReadOnly},
	{cmd: `seq 1 3; expr 1 + 2; printenv PATH; which nginx; type docker; md5sum f; sha256sum f`, want: ReadOnly},
	{cmd: `diff a b; cmp a b; comm -12 a b; strings /usr/bin/app | head; od -c f; hexdump -C f; base64 -d f`, want: ReadOnly},
	{cmd: `lsmod; zcat app.log.1.gz | tail; top -bn1 | head -20; systemd-analyze blame; timedatectl`, want: ReadOnly},
	{cmd: `promtool check config /etc/prometheus/prometheus.yml; iptables-save`, want: ReadOnly},
	{cmd: `set -e; for i in 1 2 3; do curl -sf http://x/health && break || continue; done; wait; exit 0`, want: ReadOnly},
	{cmd: `f() { return 0; }; f`, want: ReadOnly},
	{cmd: `docker ps -q | while read id; do docker inspect $id; done`, want: ReadOnly},
	{cmd: `time curl -s http://x/health`, want: ReadOnly},
	{cmd: `yq '.services' /repos/shop/compose.yml`, want: ReadOnly},
	{cmd: `nc -z db 5432`, want: ReadOnly},
	{cmd: `nc db 5432`, want: Mutating},
	{cmd: `mysqladmin --host=db ping`, want: ReadOnly},
	{cmd: `mysqladmin -h db drop app`, want: Never},
	{cmd: `mysql -h db -e 'select 1'`, want: ReadOnly},
	{cmd: `sqlite3 /var/lib/app/app.db 'select count(*) from jobs'`, want: ReadOnly},
	{cmd: `hostname; hostname -f`, want: ReadOnly},
	{cmd: `hostname web2`, want: Never},
	{cmd: `dmesg -T | tail -50`, want: ReadOnly},
	{cmd: `dmesg -C`, want: Mutating},
	{cmd: `mount | grep data`, want: ReadOnly},
	{cmd: `mount /dev/sdb1 /mnt`, want: Mutating},
	{cmd: `amtool alert query; amtool silence query`, want: ReadOnly},
	{cmd: `amtool silence add alertname=X`, want: Mutating},
	{cmd: `# just a comment`, want: ReadOnly},
	{cmd: ``, want: ReadOnly},
}

func TestClassify(t *testing.T) {
	if len(classifyCases) < 80 {
		t.Fatalf("only %d cases", len(classifyCases))
	}
	for _, tc := range classifyCases {
		steps := classify(tc.cmd)
		got := decide(steps)
		if got.Kind != tc.want {
			t.Errorf("classify(%q) = %v (%s), want %v; steps %+v", tc.cmd, got.Kind, got.Reason, tc.want, steps)
			continue
		}
		if tc.svcs != nil {
			var svcs []string
			for _, s := range steps {
				if s.Kind == Restart || s.Kind == Redeploy {
					svcs = append(svcs, s.Service)
				}
			}
			if !slices.Equal(svcs, tc.svcs) {
				t.Errorf("classify(%q) services = %q, want %q", tc.cmd, svcs, tc.svcs)
			}
		}
		anyOpaque := slices.ContainsFunc(steps, func(s Step) bool { return s.Opaque })
		if anyOpaque != tc.opaque {
			t.Errorf("classify(%q) opaque = %v, want %v; steps %+v", tc.cmd, anyOpaque, tc.opaque, steps)
		}
	}
}

func TestClassifierCwd(t *testing.T) {
	c := Classifier{ReposDir: "/srv/repos", Cwd: "/tmp"}
	if k := decide(c.Classify(`touch f; rm -rf x`)).Kind; k != Mutating {
		t.Errorf("relative write outside the repos dir = %v, want mutating", k)
	}
	if k := decide(c.Classify(`cd /srv/repos/x && touch f`)).Kind; k != Never {
		t.Errorf("write after cd into the repos dir = %v, want never", k)
	}
	if k := decide(c.Classify(`rm -rf /srv`)).Kind; k != Never {
		t.Errorf("removing an ancestor of the repos dir = %v, want never", k)
	}
	if k := decide(c.Classify(`cd "$X"; touch f`)).Kind; k != Never {
		t.Errorf("relative write from an unknown directory = %v, want never", k)
	}
	unknown := Classifier{ReposDir: "/srv/repos"}
	if k := decide(unknown.Classify(`echo x > out`)).Kind; k != Never {
		t.Errorf("relative write, cwd unknown = %v, want never", k)
	}
}

func TestClassifyWriteRead(t *testing.T) {
	c := Classifier{ReposDir: "/repos", Cwd: "/repos"}
	for _, tc := range []struct {
		path string
		kind Kind
	}{
		{"/repos/infra/compose.yml", Never},
		{"infra/x", Never},
		{"/etc/nginx/conf.d/site.conf", Mutating},
		{"/etc/app/.env", Never},
		{"/root/.ssh/authorized_keys", Never},
		{"/usr/local/bin/ls", Mutating},
		{"/etc/systemd/system/x.service", Mutating},
		{"/var/lib/docker/volumes/x/_data/f", Never},
		{"/etc/hosts", Never},
		{"/tmp/notes.txt", Mutating},
	} {
		s := c.ClassifyWrite(tc.path)
		if s.Kind != tc.kind {
			t.Errorf("ClassifyWrite(%q) = %v (%s), want %v", tc.path, s.Kind, s.Reason, tc.kind)
		}
	}
	if s := c.ClassifyRead("/etc/app/.env"); s.Kind != Never {
		t.Errorf("reading .env = %v, want never", s.Kind)
	}
	if s := c.ClassifyRead("/etc/nginx/nginx.conf"); s.Kind != ReadOnly {
		t.Errorf("reading nginx.conf = %v, want read_only", s.Kind)
	}
}

func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add(tc.cmd)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		steps := classify(cmd)
		if len(steps) == 0 {
			t.Fatalf("no steps for %q", cmd)
		}
		// A literal mutating word on its own line is never read-only.
		if strings.TrimSpace(cmd) == "docker volume rm x" && decide(steps).Kind != Never {
			t.Fatalf("volume rm not never")
		}
		for _, s := range steps {
			if s.Kind == ReadOnly && s.Opaque {
				t.Fatalf("read-only step flagged opaque: %+v", s)
			}
		}
	})
}

func TestClassifyBounded(t *testing.T) {
	nested := strings.Repeat("for a in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do ", 8) + "echo $a" + strings.Repeat("; done", 8)
	whiles := strings.Repeat("while true; do ", 30) + "echo" + strings.Repeat("; done", 30)
	for _, cmd := range []string{nested, whiles, strings.Repeat("$(", 200) + "x" + strings.Repeat(")", 200)} {
		steps := classify(cmd)
		if decide(steps).Kind == ReadOnly {
			t.Errorf("overly complex command classified read-only")
		}
	}
}
