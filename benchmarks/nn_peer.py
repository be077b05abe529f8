"""PyTorch eager peer of kinkgrad's training steps (`kinkgrad bench --only lenet,mlp-small`, `benches/nn.rs`):
one step (forward, cross-entropy, backward, Adam, lr 1e-3) of LeNet and of the MLP 784-256-10 on a batch of 64
in f32, on random images with MNIST's sparsity (about 80% zero pixels) and random labels.

  python nn_peer.py                      both steps, one line each (median seconds per step)
  python nn_peer.py lenet|mlp_small      one step, one JSON line {"bench", "seconds", "torch", "threads"}
  python nn_peer.py --serve lenet|mlp_small   warm up, then answer `run step N` lines on stdin (peer_serve.py;
                                         `kinkgrad bench` uses this mode)

Run with the same number of threads as the program you compare against.
"""
import json
import sys
import statistics
import torch
import torch.nn as nn
from peer_serve import serve, time_calls

torch.manual_seed(0)


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def mlp_small():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def make_step(model):
    """One training step of model on a fixed batch, warmed up (20 steps)."""
    x = (torch.rand(64, 1, 28, 28) < 0.2).float() * torch.rand(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(20):
        step()
    return step


def time_step(model, reps=200):
    return statistics.median(time_calls(make_step(model), reps))


MODELS = {"lenet": lenet, "mlp_small": mlp_small}

if __name__ == "__main__":
    if len(sys.argv) == 1:
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
        print(f"lenet_train_step_b64_f32 {time_step(lenet()):.6f}")
        print(f"mlp_train_step_b64_f32 {time_step(mlp_small()):.6f}")
    elif len(sys.argv) == 2 and sys.argv[1] in MODELS:
        name = sys.argv[1]
        print(json.dumps({"bench": f"{name}_step", "seconds": time_step(MODELS[name]()),
                          "torch": torch.__version__, "threads": torch.get_num_threads()}))
    elif len(sys.argv) == 3 and sys.argv[1] == "--serve" and sys.argv[2] in MODELS:
        name = sys.argv[2]
        serve({"step": make_step(MODELS[name]())},
              {"bench": f"{name}_step", "torch": torch.__version__, "threads": torch.get_num_threads()})
    else:
        sys.exit("usage: nn_peer.py [--serve] [lenet|mlp_small]")
