package deploy_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// pinned reports whether an image reference names a fixed version: a tag
// other than latest (and not only a major version), or a digest.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return false
	}
	tag := image[i+1:]
	return tag != "latest" && regexp.MustCompile(`^v?\d+\.\d+`).MatchString(tag)
}

// envFile reads KEY=value lines.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not KEY=value: %q", path, line)
		}
		env[k] = v
	}
	return env
}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}`)

// expand applies compose's ${VAR}, ${VAR:-default} and ${VAR:?err}
// interpolation with env; it reports variables that are neither set nor
// defaulted.
func expand(s string, env map[string]string, missing map[string]bool) string {
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		sub := interpolation.FindStringSubmatch(m)
		if v, ok := env[sub[1]]; ok {
			return v
		}
		if i := strings.Index(m, ":-"); i >= 0 {
			return strings.TrimSuffix(m[i+2:], "}")
		}
		missing[sub[1]] = true
		return ""
	})
}

type composeFile struct {
	Name     string `yaml:"name"`
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Ports       []string          `yaml:"ports"`
		Expose      []string          `yaml:"expose"`
		Volumes     []string          `yaml:"volumes"`
		Secrets     []string          `yaml:"secrets"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
	Secrets map[string]struct {
		Environment string `yaml:"environment"`
		File        string `yaml:"file"`
	} `yaml:"secrets"`
}

// TestCompose validates deploy/compose/docker-compose.yml without a Docker
// engine: every referenced file exists, every named volume and secret is
// declared, ports are valid, images are pinned, every service has a
// health check and dependencies wait for health, and .env.example sets
// every variable the file needs.
func TestCompose(t *testing.T) {
	root := repo(t)
	dir := filepath.Join(root, "deploy", "compose")
	raw, err := os.ReadFile(filepath.Join(dir, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	env := envFile(t, filepath.Join(dir, ".env.example"))
	missing := map[string]bool{}
	text := expand(string(raw), env, missing)
	for v := range missing {
		t.Errorf("docker-compose.yml needs ${%s} without a default, and .env.example does not set it", v)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(false)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, want := range []string{"collector", "influxdb", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	for name, s := range c.Services {
		if !pinned(s.Image) {
			t.Errorf("service %s: image %q is not pinned to a version", name, s.Image)
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
		for dep, d := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on unknown service %s", name, dep)
			}
			if d.Condition != "service_healthy" {
				t.Errorf("service %s: depends_on %s should wait for service_healthy, not %q", name, dep, d.Condition)
			}
		}
		if s.Build != nil {
			ctx := filepath.Join(dir, s.Build.Context)
			if _, err := os.Stat(filepath.Join(ctx, s.Build.Dockerfile)); err != nil {
				t.Errorf("service %s: build: %v", name, err)
			}
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) < 2 || !regexp.MustCompile(`^\d+$`).MatchString(parts[len(parts)-1]) || !regexp.MustCompile(`^\d+$`).MatchString(parts[len(parts)-2]) {
				t.Errorf("service %s: port %q is not HOST:CONTAINER", name, p)
			}
		}
		for _, v := range s.Volumes {
			src, rest, ok := strings.Cut(v, ":")
			if !ok || !strings.HasPrefix(rest, "/") {
				t.Errorf("service %s: volume %q is not SOURCE:/path", name, v)
				continue
			}
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
					t.Errorf("service %s: volume source %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s: named volume %s is not declared under volumes:", name, src)
			}
		}
		for _, sec := range s.Secrets {
			d, ok := c.Secrets[sec]
			if !ok {
				t.Errorf("service %s: secret %s is not declared under secrets:", name, sec)
			} else if d.Environment != "" {
				if _, ok := env[d.Environment]; !ok {
					t.Errorf("secret %s comes from %s, which .env.example does not set", sec, d.Environment)
				}
			}
		}
	}

	// The collector's config in the compose set-up is valid for the
	// collector and points at the compose InfluxDB and secret.
	col := filepath.Join(dir, "collector.yaml")
	var cc struct {
		Storage struct {
			Backend  string `yaml:"backend"`
			InfluxDB struct {
				URL       string `yaml:"url"`
				Bucket    string `yaml:"bucket"`
				TokenFile string `yaml:"token_file"`
			} `yaml:"influxdb"`
		} `yaml:"storage"`
	}
	readYAML(t, col, &cc)
	checkCollectorConfig(t, col)
	if cc.Storage.Backend != "influxdb" || cc.Storage.InfluxDB.URL != "http://influxdb:8086" || cc.Storage.InfluxDB.TokenFile != "/run/secrets/influx_token" {
		t.Errorf("deploy/compose/collector.yaml does not write to the compose InfluxDB with the influx_token secret: %+v", cc.Storage)
	}
	if b := c.Services["influxdb"].Environment["DOCKER_INFLUXDB_INIT_BUCKET"]; b != cc.Storage.InfluxDB.Bucket {
		t.Errorf("InfluxDB creates bucket %q, the collector writes to %q", b, cc.Storage.InfluxDB.Bucket)
	}
	// Grafana's provisioned datasource reads the bucket the collector writes.
	ds, err := os.ReadFile(filepath.Join(root, "dashboards", "provisioning", "datasources", "influxdb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ds), "defaultBucket: "+cc.Storage.InfluxDB.Bucket) {
		t.Errorf("the provisioned datasource's defaultBucket is not %q", cc.Storage.InfluxDB.Bucket)
	}
	for _, v := range []string{"INFLUX_URL", "INFLUX_ORG", "INFLUX_TOKEN"} {
		if strings.Contains(string(ds), "${"+v+"}") && c.Services["grafana"].Environment[v] == "" {
			t.Errorf("the datasource needs %s, which the grafana service does not set", v)
		}
	}
	// The dashboards provider's path is where the JSON is mounted.
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(root, "dashboards", "provisioning", "dashboards", "schulmon.yaml"), &prov)
	if len(prov.Providers) == 0 {
		t.Fatal("no dashboard provider")
	}
	mounted := false
	for _, v := range c.Services["grafana"].Volumes {
		if strings.Contains(v, ":"+prov.Providers[0].Options.Path) {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("grafana does not mount the dashboards at the provider's path %s", prov.Providers[0].Options.Path)
	}
	if js, _ := filepath.Glob(filepath.Join(root, "dashboards", "json", "*.json")); len(js) == 0 {
		t.Error("no dashboards in dashboards/json to provision")
	}
}

// TestDockerfile checks the collector image: multi-stage, static
// (CGO_ENABLED=0), non-root, pinned base images.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo(t), "deploy", "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	user := ""
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			froms = append(froms, f[1])
		}
		if len(f) >= 2 && strings.EqualFold(f[0], "USER") {
			user = f[1]
		}
	}
	if len(froms) < 2 {
		t.Errorf("not multi-stage: %v", froms)
	}
	for _, f := range froms {
		if !pinned(f) && !strings.HasSuffix(f, ":nonroot") {
			t.Errorf("base image %s is not pinned", f)
		}
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("the image runs as %q, want an unprivileged user", user)
	}
	if !strings.Contains(string(data), "CGO_ENABLED=0") {
		t.Error("the build is not static (CGO_ENABLED=0)")
	}
	for _, p := range regexp.MustCompile(`cp (deploy/\S+)`).FindAllStringSubmatch(string(data), -1) {
		if _, err := os.Stat(filepath.Join(repo(t), p[1])); err != nil {
			t.Errorf("Dockerfile copies %s: %v", p[1], err)
		}
	}
}

type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Resources []string `yaml:"resources"`
	Data      map[string]string
	Spec      struct {
		Selector    map[string]any `yaml:"selector"`
		ServiceName string         `yaml:"serviceName"`
		Ports       []struct {
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
			Name       string `yaml:"name"`
		} `yaml:"ports"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []struct {
					Image string `yaml:"image"`
					Args  []string
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					VolumeMounts []struct {
						Name string `yaml:"name"`
					} `yaml:"volumeMounts"`
					ReadinessProbe map[string]any `yaml:"readinessProbe"`
					LivenessProbe  map[string]any `yaml:"livenessProbe"`
				} `yaml:"containers"`
				Volumes []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

// TestKubernetes parses every manifest and follows the references between
// them: the kustomization lists existing files, the StatefulSet's volumes
// name the ConfigMap and Secret, its mounts name its volumes or claim
// templates, the Service selects the pods and targets a container port,
// the image is pinned, the pod runs as non-root with probes, and the
// ConfigMap holds a collector config the collector accepts.
func TestKubernetes(t *testing.T) {
	dir := filepath.Join(repo(t), "deploy", "kubernetes")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	objs := map[string]k8sObject{} // kind/name
	var kust k8sObject
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var o k8sObject
			if err := dec.Decode(&o); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			if o.APIVersion == "" || o.Kind == "" || (o.Metadata.Name == "" && o.Kind != "Kustomization") {
				t.Errorf("%s: object without apiVersion, kind or name", f)
			}
			if o.Kind == "Kustomization" {
				kust = o
				continue
			}
			objs[o.Kind+"/"+o.Metadata.Name] = o
		}
	}
	for _, r := range kust.Resources {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			t.Errorf("kustomization resource %s: %v", r, err)
		}
	}
	if slices.Contains(kust.Resources, "secret.example.yaml") {
		t.Error("the example secret must not be applied by the kustomization")
	}
	ss, ok := objs["StatefulSet/schulmon-collector"]
	if !ok {
		t.Fatal("no StatefulSet schulmon-collector")
	}
	pod := ss.Spec.Template.Spec
	if !pod.SecurityContext.RunAsNonRoot {
		t.Error("the pod does not enforce runAsNonRoot")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	if !pinned(ctr.Image) {
		t.Errorf("image %q is not pinned", ctr.Image)
	}
	if ctr.ReadinessProbe == nil || ctr.LivenessProbe == nil {
		t.Error("the collector needs readiness and liveness probes")
	}
	vols := map[string]bool{}
	for _, v := range pod.Volumes {
		vols[v.Name] = true
		if v.ConfigMap != nil {
			if _, ok := objs["ConfigMap/"+v.ConfigMap.Name]; !ok {
				t.Errorf("volume %s: ConfigMap %s is not defined", v.Name, v.ConfigMap.Name)
			}
		}
		if v.Secret != nil {
			if _, ok := objs["Secret/"+v.Secret.SecretName]; !ok {
				t.Errorf("volume %s: Secret %s has no example", v.Name, v.Secret.SecretName)
			}
		}
	}
	for _, c := range ss.Spec.VolumeClaimTemplates {
		vols[c.Metadata.Name] = true
	}
	for _, m := range ctr.VolumeMounts {
		if !vols[m.Name] {
			t.Errorf("mount %s names no volume or claim template", m.Name)
		}
	}
	svc, ok := objs["Service/"+ss.Spec.ServiceName]
	if !ok {
		t.Fatalf("the StatefulSet's service %s is not defined", ss.Spec.ServiceName)
	}
	labels := ss.Spec.Template.Metadata.Labels
	for k, v := range svc.Spec.Selector {
		if labels[k] != v {
			t.Errorf("the Service selects %s=%v, the pods have %q", k, v, labels[k])
		}
	}
	for _, p := range svc.Spec.Ports {
		found := false
		for _, cp := range ctr.Ports {
			found = found || cp.Name == p.TargetPort || cp.ContainerPort == p.TargetPort
		}
		if !found {
			t.Errorf("service port %s targets %v, which the container does not expose", p.Name, p.TargetPort)
		}
	}
	cm := objs["ConfigMap/schulmon-collector"]
	cfgText, ok := cm.Data["collector.yaml"]
	if !ok {
		t.Fatal("the ConfigMap has no collector.yaml")
	}
	cfgPath := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ctr.Args, "/etc/schulmon/collector.yaml") {
		t.Errorf("the container does not read /etc/schulmon/collector.yaml: %v", ctr.Args)
	}
	checkCollectorConfig(t, cfgPath)
}
