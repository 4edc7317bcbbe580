package jobs

import (
	"path"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// OutputDir is where, under the workspace volume, jobs write their tasks'
// output: <volume>/.tenancy/jobs/<job>/task-<index>.log.
const OutputDir = ".tenancy/jobs"

// wrapperName is $0 of the output wrapper, so ps and commandOf know it.
const wrapperName = "tenancy-job-output"

// outputWrapper runs "$@" with its output (stdout and stderr) going both to
// the container's log and to task-<index>.log under $TENANCY_OUTPUT/$TENANCY_JOB,
// through a FIFO in the pod's /tmp so that the command's exit code is the
// task's. SIGTERM (cancel, delete, the time limit) reaches the command. Where
// the directory cannot be made (say the volume is read-only for the pod's
// user) the command runs as it would without the wrapper.
const outputWrapper = `d="$TENANCY_OUTPUT/$TENANCY_JOB"
f="$d/task-${JOB_COMPLETION_INDEX:-0}.log"
p="${TMPDIR:-/tmp}/.tenancy-output-$$"
if [ -n "$TENANCY_JOB" ] && mkdir -p "$d" 2>/dev/null && : >"$f" 2>/dev/null && mkfifo "$p" 2>/dev/null; then
  tee -a "$f" <"$p" &
  t=$!
  "$@" >"$p" 2>&1 &
  c=$!
  trap 'kill -TERM $c 2>/dev/null' TERM INT
  while :; do
    wait $c
    rc=$?
    kill -0 $c 2>/dev/null || break
  done
  wait $t
  rm -f "$p"
  exit $rc
fi
exec "$@"`

// WriteOutputTo makes each task of job also write its output under the
// workspace volume mounted at volumePath (nothing when ""), so that it
// outlives the pods: <volumePath>/.tenancy/jobs/<job>/task-<index>.log. The
// command runs under a small sh wrapper that tees its output; the Job is
// annotated with the directory (AnnotationOutput).
func WriteOutputTo(job *batchv1.Job, volumePath string) {
	if volumePath == "" || len(job.Spec.Template.Spec.Containers) == 0 {
		return
	}
	dir := path.Join(volumePath, OutputDir)
	c := &job.Spec.Template.Spec.Containers[0]
	c.Command = append([]string{"sh", "-c", outputWrapper, wrapperName}, append(c.Command, c.Args...)...)
	c.Args = nil
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "TENANCY_OUTPUT", Value: dir},
		corev1.EnvVar{Name: "TENANCY_JOB", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['" + labelJobName + "']"}}},
	)
	if job.Annotations == nil {
		job.Annotations = map[string]string{}
	}
	job.Annotations[AnnotationOutput] = dir
}
