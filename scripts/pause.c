/* The pod sandbox ("pause") process of minikube8s, after Kubernetes' build/pause/linux/pause.c.
 * It holds the pod's network namespace: it sleeps until SIGINT or SIGTERM (then exits 0) and
 * reaps any child re-parented to it. Built with `gcc -static` by scripts/build-images.sh. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo) {
    psignal(signo, "pause: shutting down, got signal");
    exit(0);
}

static void sigreap(int signo) {
    (void)signo;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        printf("minikube8s pause 1.0\n");
        return 0;
    }
    if (getpid() != 1)
        fprintf(stderr, "pause: warning: not pid 1\n");
    struct sigaction down = {.sa_handler = sigdown};
    struct sigaction reap = {.sa_handler = sigreap, .sa_flags = SA_NOCLDSTOP};
    if (sigaction(SIGINT, &down, NULL) < 0 || sigaction(SIGTERM, &down, NULL) < 0 ||
        sigaction(SIGCHLD, &reap, NULL) < 0)
        return 1;
    for (;;)
        pause();
    return 42;
}
