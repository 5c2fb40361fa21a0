package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ECSSetting is one line of ecs.config: KEY=VALUE.
type ECSSetting struct {
	Key, Value string
}

// ecsValue is how a documented ecs.config key's value is checked.
type ecsValue int

const (
	ecsString   ecsValue = iota // any printable text
	ecsBool                     // true or false
	ecsJSON                     // a JSON document (array or object)
	ecsDuration                 // a Go duration (30s, 3h)
	ecsInt                      // a non-negative integer
	ecsCluster                  // a cluster name or ARN
)

// ecsKeys are the ecs.config keys the Amazon ECS container agent
// documents (its README's "Environment Variables" and the ECS developer
// guide's "Amazon ECS container agent configuration"), with how their
// values are checked. A key not listed is refused: a typo (ECS_CLUSTRE)
// would otherwise put the instance in the default cluster silently.
var ecsKnown = map[string]ecsValue{
	"ECS_CLUSTER":                                    ecsCluster,
	"ECS_RESERVED_PORTS":                             ecsJSON,
	"ECS_RESERVED_PORTS_UDP":                         ecsJSON,
	"ECS_ENGINE_AUTH_TYPE":                           ecsString,
	"ECS_ENGINE_AUTH_DATA":                           ecsJSON, // a secret: values are never logged or quoted
	"AWS_DEFAULT_REGION":                             ecsString,
	"ECS_LOGLEVEL":                                   ecsString,
	"ECS_LOGLEVEL_ON_INSTANCE":                       ecsString,
	"ECS_LOG_DRIVER":                                 ecsString,
	"ECS_LOG_OPTS":                                   ecsJSON,
	"ECS_LOG_ROLLOVER_TYPE":                          ecsString,
	"ECS_LOG_OUTPUT_FORMAT":                          ecsString,
	"ECS_LOG_MAX_FILE_SIZE_MB":                       ecsInt,
	"ECS_LOG_MAX_ROLL_COUNT":                         ecsInt,
	"ECS_CHECKPOINT":                                 ecsBool,
	"ECS_AVAILABLE_LOGGING_DRIVERS":                  ecsJSON,
	"ECS_DISABLE_PRIVILEGED":                         ecsBool,
	"ECS_SELINUX_CAPABLE":                            ecsBool,
	"ECS_APPARMOR_CAPABLE":                           ecsBool,
	"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION":          ecsDuration,
	"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER":   ecsDuration,
	"ECS_CONTAINER_STOP_TIMEOUT":                     ecsDuration,
	"ECS_CONTAINER_START_TIMEOUT":                    ecsDuration,
	"ECS_CONTAINER_CREATE_TIMEOUT":                   ecsDuration,
	"ECS_MANIFEST_PULL_TIMEOUT":                      ecsDuration,
	"ECS_IMAGE_PULL_INACTIVITY_TIMEOUT":              ecsDuration,
	"ECS_IMAGE_PULL_TIMEOUT":                         ecsDuration,
	"ECS_ENABLE_TASK_IAM_ROLE":                       ecsBool,
	"ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST":          ecsBool,
	"ECS_DISABLE_IMAGE_CLEANUP":                      ecsBool,
	"ECS_IMAGE_CLEANUP_INTERVAL":                     ecsDuration,
	"ECS_IMAGE_MINIMUM_CLEANUP_AGE":                  ecsDuration,
	"NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE":              ecsDuration,
	"ECS_NUM_IMAGES_DELETE_PER_CYCLE":                ecsInt,
	"ECS_IMAGE_PULL_BEHAVIOR":                        ecsString,
	"ECS_EXCLUDE_UNTRACKED_IMAGE":                    ecsJSON,
	"ECS_INSTANCE_ATTRIBUTES":                        ecsJSON,
	"ECS_ENABLE_TASK_ENI":                            ecsBool,
	"ECS_ENABLE_HIGH_DENSITY_ENI":                    ecsBool,
	"ECS_CNI_PLUGINS_PATH":                           ecsString,
	"ECS_AWSVPC_BLOCK_IMDS":                          ecsBool,
	"ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES":             ecsJSON,
	"ECS_ENABLE_CONTAINER_METADATA":                  ecsBool,
	"ECS_HOST_DATA_DIR":                              ecsString,
	"ECS_ENABLE_TASK_CPU_MEM_LIMIT":                  ecsBool,
	"ECS_CGROUP_PATH":                                ecsString,
	"ECS_ENABLE_CPU_UNBOUNDED_WINDOWS_WORKAROUND":    ecsBool,
	"ECS_TASK_METADATA_RPS_LIMIT":                    ecsString,
	"ECS_SHARED_VOLUME_MATCH_FULL_CONFIG":            ecsBool,
	"ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM":     ecsString,
	"ECS_CONTAINER_INSTANCE_TAGS":                    ecsJSON,
	"ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP":             ecsBool,
	"ECS_ENABLE_SPOT_INSTANCE_DRAINING":              ecsBool,
	"ECS_WARM_POOLS_CHECK":                           ecsBool,
	"ECS_RESERVED_MEMORY":                            ecsInt,
	"ECS_UPDATES_ENABLED":                            ecsBool,
	"ECS_UPDATE_DOWNLOAD_DIR":                        ecsString,
	"ECS_DATADIR":                                    ecsString,
	"ECS_DISABLE_METRICS":                            ecsBool,
	"ECS_POLL_METRICS":                               ecsBool,
	"ECS_POLLING_METRICS_WAIT_DURATION":              ecsDuration,
	"ECS_DISABLE_DOCKER_HEALTH_CHECK":                ecsBool,
	"ECS_ENABLE_GPU_SUPPORT":                         ecsBool,
	"ECS_NVIDIA_RUNTIME":                             ecsString,
	"ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE":      ecsBool,
	"ECS_ENABLE_RUNTIME_STATS":                       ecsBool,
	"ECS_EXTERNAL":                                   ecsBool,
	"ECS_INSTANCE_IP_COMPATIBILITY":                  ecsString,
	"ECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED":          ecsBool,
	"ECS_ENABLE_INF_SUPPORT":                         ecsBool,
	"ECS_DOCKER_API_VERSION":                         ecsString,
	"ECS_ENABLE_MEMORY_UNBOUNDED_WINDOWS_WORKAROUND": ecsBool,
	"ECS_AGENT_HEALTHCHECK_HOST":                     ecsString,
	"ECS_DYNAMIC_HOST_PORT_RANGE":                    ecsString,
	"ECS_TASK_PIDS_LIMIT":                            ecsInt,
	"HTTP_PROXY":                                     ecsString,
	"NO_PROXY":                                       ecsString,
}

// maxECSLines bounds an ecs.config document.
const maxECSLines = 256

var (
	ecsKeyRe      = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	ecsClusterRe  = regexp.MustCompile(`^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9_-]{1,255})$`)
	ecsDurationRe = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`)
	// ecsEchoRe is the line ECS documentation tells users to put in a
	// user-data script: echo KEY=VALUE >> /etc/ecs/ecs.config.
	ecsEchoRe = regexp.MustCompile(`^echo\s+(?:"([^"]*)"|'([^']*)'|(\S+))\s*>>\s*/etc/ecs/ecs\.config$`)
)

// ParseECSConfig parses ecs.config lines as ECS users write them in user
// data: KEY=VALUE per line, # comments, blank lines; or the script ECS's
// documentation shows (#!/bin/bash, then echo KEY=VALUE >>
// /etc/ecs/ecs.config lines), whose echo lines are read and never run (a
// script with any other command is refused). Each key must be a
// documented one, given once, with a value of its kind. Errors wrap
// ErrUserData and quote no value.
func ParseECSConfig(b []byte) ([]ECSSetting, error) {
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if len(lines) > maxECSLines {
		return nil, fmt.Errorf("%w: ecs.config: %d lines (at most %d)", ErrUserData, len(lines), maxECSLines)
	}
	script := false
	var out []ECSSetting
	seen := map[string]bool{}
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if i == 0 && (l == "#!/bin/bash" || l == "#!/bin/sh" || l == "#!/usr/bin/env bash") {
			script = true
			continue
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		kv := l
		if script {
			m := ecsEchoRe.FindStringSubmatch(l)
			if m == nil {
				return nil, fmt.Errorf("%w: ecs.config script line %d: only `echo KEY=VALUE >> /etc/ecs/ecs.config` lines are read (hardvm runs no scripts)", ErrUserData, i+1)
			}
			kv = m[1] + m[2] + m[3]
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !ecsKeyRe.MatchString(k) {
			return nil, fmt.Errorf("%w: ecs.config line %d: want KEY=VALUE", ErrUserData, i+1)
		}
		kind, known := ecsKnown[k]
		if !known {
			return nil, fmt.Errorf("%w: ecs.config line %d: %s is not an ecs.config key the ECS agent documents", ErrUserData, i+1, k)
		}
		if seen[k] {
			return nil, fmt.Errorf("%w: ecs.config line %d: %s given twice", ErrUserData, i+1, k)
		}
		seen[k] = true
		if err := checkECSValue(kind, v); err != nil {
			return nil, fmt.Errorf("%w: ecs.config line %d: %s: %s", ErrUserData, i+1, k, err)
		}
		out = append(out, ECSSetting{k, v})
	}
	if !seen["ECS_CLUSTER"] {
		return nil, fmt.Errorf("%w: ecs.config: no ECS_CLUSTER", ErrUserData)
	}
	return out, nil
}

func checkECSValue(kind ecsValue, v string) error {
	if strings.ContainsFunc(v, badTOMLRune) {
		return fmt.Errorf("control character in the value")
	}
	switch kind {
	case ecsBool:
		if v != "true" && v != "false" {
			return fmt.Errorf("want true or false")
		}
	case ecsJSON:
		if !json.Valid([]byte(v)) || !(strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{")) {
			return fmt.Errorf("want a JSON array or object")
		}
	case ecsDuration:
		if !ecsDurationRe.MatchString(v) {
			return fmt.Errorf("want a duration such as 30s or 3h")
		}
	case ecsInt:
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return fmt.Errorf("want a non-negative integer")
		}
	case ecsCluster:
		if !ecsClusterRe.MatchString(v) {
			return fmt.Errorf("want 1-255 letters, digits, hyphens and underscores, or a cluster ARN")
		}
	}
	return nil
}

// renderECSConfig writes the settings as ecs.config.
func renderECSConfig(s []ECSSetting) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by hardvm-firstboot from this machine's user data at every boot; edits are lost.\n")
	for _, e := range s {
		b.WriteString(e.Key + "=" + e.Value + "\n")
	}
	return b.Bytes()
}

// ecsKeys returns the keys set, for the log (never the values).
func ecsKeys(s []ECSSetting) []string {
	out := make([]string, len(s))
	for i, e := range s {
		out[i] = e.Key
	}
	return out
}
